#!/usr/bin/env bash
# test-ctl-usage.sh: cocoonctl's per-verb options: an option a verb does not declare is a usage error (exit 2)
# naming the option and the verb, near misses get a suggestion, every usage error says what is wrong, and -f is
# --force for vm rm and vm stop but --follow for vm logs. No VM is booted: usage errors are caught before any
# call, and the short options are told apart by the manager's answer for a VM that does not exist.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# expect_usage NEEDLE COMMAND...: exit code 2 and one line on stderr containing NEEDLE; the line is in $err.
expect_usage() {
        local rc=0
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_eq 2 "$rc" "exit code of ${*:2}"
        assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "stderr lines of ${*:2}"
        assert_contains "$err" "$1" "usage error of ${*:2}"
}

# expect_no_such_vm COMMAND...: the options parsed, the call was made and failed with NoSuchVM (exit 1).
expect_no_such_vm() {
        local rc=0
        err=$("$@" 2>&1 >/dev/null) || rc=$?
        assert_eq 1 "$rc" "exit code of $*"
        assert_contains "$err" io.cocoon.VM.NoSuchVM "error of $*"
}

systemctl start cocoon-manager.socket
cocoonctl status >/dev/null

info "an option the verb does not declare is a usage error naming the option and the verb"
expect_usage "cocoonctl vm start: unknown option '--memory'" cocoonctl vm start c1 --memory 4G
expect_usage "cocoonctl vm list: unknown option '--force'" cocoonctl vm list --force --kernel x
expect_usage "cocoonctl vm list: unknown option '--kernel'" cocoonctl vm list --kernel x
expect_usage "cocoonctl image list: unknown option '--name'" cocoonctl image list --name x
expect_usage "cocoonctl vm inspect: unknown option '--follow'" cocoonctl vm inspect c1 --follow
expect_usage "cocoonctl vm console: unknown option '--force'" cocoonctl vm console c1 --force
expect_usage "cocoonctl vm create: unknown option '--kernel'" cocoonctl vm create img --kernel k
expect_usage "cocoonctl vm create: unknown option '--console'" cocoonctl vm create img --console
expect_usage "cocoonctl vm logs: unknown option '--replay'" cocoonctl vm logs c1 --replay
expect_usage "cocoonctl vm list: unknown option '-f'" cocoonctl vm list -f
# The refusal of --json is itself a JSON error (test-ctl-output checks those).
expect_usage "option '--json' does not apply: the console log is a byte stream" cocoonctl vm logs c1 --json
assert_contains "$err" '"verb":"vm logs"' "the verb in the JSON refusal"
expect_usage "option '--json' does not apply" cocoonctl --json vm logs c1
expect_usage "option '--json' does not apply: the console is a byte stream" cocoonctl vm console c1 --json
expect_usage "option '--json' does not apply: the archive is a byte stream" cocoonctl snapshot export s1 --json
assert_contains "$err" '"error":"cocoonctl.UsageError"' "the JSON refusal"
expect_usage "cocoonctl: unknown option '--memory'" cocoonctl --memory 4G vm list

info "a near miss gets a suggestion from the verb's own options"
expect_usage "unknown option '--forse'; did you mean '--force'?" cocoonctl vm stop c1 --forse
assert_contains "$err" "cocoonctl vm stop" "verb in the suggestion"
expect_usage "did you mean '--memory'?" cocoonctl vm create img --memroy 1G
expect_usage "did you mean '--json'?" cocoonctl vm list --jsn
expect_usage "did you mean '--follow'?" cocoonctl vm logs c1 --folow
expect_usage "unknown option '--kernel'; see 'cocoonctl vm list --help'" cocoonctl vm list --kernel x

info "every usage error says what is wrong"
expect_usage "option '--name' needs a value" cocoonctl vm create img --name
expect_usage "option '--force' takes no value" cocoonctl vm rm c1 --force=yes
expect_usage "cocoonctl vm start: missing argument" cocoonctl vm start
expect_usage "cocoonctl vm inspect: too many arguments" cocoonctl vm inspect a b
expect_usage "unknown command 'vm frob'" cocoonctl vm frob
rc=0; err=$(cocoonctl vm 2>&1 >/dev/null) || rc=$?
assert_eq 2 "$rc" "exit code of cocoonctl vm"
assert_contains "$err" "'vm' needs a command" "cocoonctl vm"
assert_contains "$err" "vm stop REF..." "cocoonctl vm lists the group's verbs"
assert_contains "$(cocoonctl vm --help)" "vm inspect REF" "cocoonctl vm --help lists the group's verbs on stdout"
expect_usage "unknown command 'vm lst' (did you mean 'vm list'?)" cocoonctl vm lst
expect_usage "unknown command 'imgae' (did you mean 'image'?)" cocoonctl imgae

info "aliases name the same verb, and every verb's help has an example"
assert_eq "$(cocoonctl vm list --json)" "$(cocoonctl vm ps --json)" "vm ps is vm list"
assert_eq "$(cocoonctl vm list --json)" "$(cocoonctl vm ls --json)" "vm ls is vm list"
expect_no_such_vm cocoonctl vm delete no-such-vm
assert_contains "$(cocoonctl vm rm --help)" "Aliases: vm delete" "vm rm --help names its alias"

info "every verb's --help: the options of its usage line, a default for each value option, an example"
checked=0
while read -r verb; do
        # shellcheck disable=SC2086 # the verb is one or two words
        out=$(cocoonctl $verb --help)
        assert_contains "$out" "Example:" "cocoonctl $verb --help"
        options=$(sed -n '/^Options:$/,/^$/p' <<<"$out")
        usage_options=$(head -1 <<<"$out" | { grep -oE -- '(^|[ [|])--?[a-z][a-z-]*' || true; } | tr -d ' [|')
        for opt in $usage_options; do
                grep -qE -- "(^| )$opt( |=|$)" <<<"$options" ||
                        fail "cocoonctl $verb --help lists no $opt: $options"
        done
        # A value option (--name=VALUE) says what happens without it.
        while read -r line; do
                case $line in
                *default* | *required*) ;;
                *) fail "cocoonctl $verb --help: no default for: $line" ;;
                esac
        done < <(grep -E -- '^ +(-[a-zA-Z] )?--[a-z-]+=' <<<"$options" || true)
        # Every verb that prints something takes --json; the byte streams refuse it (see above).
        case $verb in
        "vm console" | "vm logs" | "snapshot export") assert_not_contains "$options" "--json" "cocoonctl $verb --help" ;;
        *) assert_contains "$options" "--json" "cocoonctl $verb --help" ;;
        esac
        checked=$((checked + 1))
done < <(cocoonctl --help | awk '/^  [a-z]/ { v = $1; if ($2 ~ /^[a-z]+$/) v = v " " $2; print v }' | sort -u)
[ "$checked" -ge 18 ] || fail "only $checked verbs found in cocoonctl --help"
assert_contains "$(cocoonctl vm create --help)" "--memory=SIZE           Memory, e.g. 512M, 2Gi (default: 256Mi)" \
        "vm create --help states the default memory"
assert_contains "$(cocoonctl image import --help)" "Kernel image (required)" "image import --help"
expect_usage "no command given" cocoonctl

info "-f is --force for vm rm and vm stop: the call is made (NoSuchVM), not refused as usage"
expect_no_such_vm cocoonctl vm rm -f nope
expect_no_such_vm cocoonctl vm stop -f nope
expect_no_such_vm cocoonctl vm rm nope --force
expect_usage "cocoonctl vm rm: unknown option '--follow'" cocoonctl vm rm --follow nope
expect_usage "cocoonctl vm stop: unknown option '--follow'" cocoonctl vm stop --follow nope

info "vm logs keeps -f for --follow"
expect_no_such_vm cocoonctl vm logs -f nope
expect_no_such_vm cocoonctl vm logs --follow nope
expect_usage "cocoonctl vm logs: unknown option '--force'" cocoonctl vm logs --force nope

info "--console with --json, --no-tty without --console, a bad --lines or --since: one line, exit 1"
expect_refused() {
        local rc=0
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_eq 1 "$rc" "exit code of ${*:2}"
        assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "stderr lines of ${*:2}"
        assert_contains "$err" "$1" "error of ${*:2}"
}
expect_refused "--console and --json do not go together" cocoonctl vm run img --console --json
expect_refused "--no-tty needs --console" cocoonctl vm run img --no-tty
expect_refused "--escape-char needs --console" cocoonctl vm run img --escape-char x
expect_refused "invalid --lines 'x'" cocoonctl vm logs nope -n x
expect_refused "invalid --since '5 min'" cocoonctl vm logs nope --since "5 min"
expect_refused "--lines needs --replay" cocoonctl vm console nope -n 5 --no-tty

info "global options still work before and after the verb"
assert_contains "$(cocoonctl --version)" "cocoonctl " "--version"
assert_contains "$(cocoonctl vm list --version)" "cocoonctl " "--version after a verb"
assert_eq "[]" "$(cocoonctl --json vm list | tr -d ' \n')" "--json before the verb"
assert_eq "[]" "$(cocoonctl vm list --json | tr -d ' \n')" "--json after the verb"
assert_eq "[]" "$(cocoonctl --address="$COCOON_SOCKET" vm list --json | tr -d ' \n')" "--address"
assert_contains "$(cocoonctl status --address "$COCOON_SOCKET")" "cocoon-manager " "--address after the verb"

info "per-verb --help lists that verb's options and the global ones"
out=$(cocoonctl vm stop --help)
assert_contains "$out" "-f --force" "vm stop --help"
assert_contains "$out" "--timeout=SEC" "vm stop --help"
assert_contains "$out" "--address=PATH" "vm stop --help"
assert_not_contains "$out" "--follow" "vm stop --help"
out=$(cocoonctl vm logs --help)
assert_contains "$out" "-f --follow" "vm logs --help"
assert_contains "$out" "-n --lines=N" "vm logs --help"
assert_not_contains "$out" "--json" "vm logs --help"
out=$(cocoonctl --help vm create)
assert_contains "$out" "--memory=SIZE" "--help before vm create"
assert_contains "$(cocoonctl vm --help)" "Commands:" "vm --help"

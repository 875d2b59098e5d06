#!/usr/bin/env bash
# test-completion.sh: shell completion. The bash script is sourced into this bash and its function called
# as bash calls it on TAB (COMP_WORDS, COMP_CWORD), against this build's cocoonctl and a manager holding a
# VM and an image: verbs, aliases, per-verb options, option values, file names, VM and image names, nothing
# (and no delay) when the manager cannot be reached, nothing after 2 s from one that does not answer. The
# zsh function is run with zsh's completion builtins stubbed, to check it hands the same words to cocoonctl.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

bash_script=$COCOON_SOURCE_DIR/shell-completion/bash/cocoonctl
zsh_dir=$COCOON_SOURCE_DIR/shell-completion/zsh

# shellcheck source=../../shell-completion/bash/cocoonctl
. "$bash_script"
assert_eq "complete -F _cocoonctl cocoonctl" "$(complete -p cocoonctl)" "completion registered for cocoonctl"

# tab WORD...: COMPREPLY, one per line, for the command line WORD... with the cursor at the end of the last
# WORD ("" right after a space). Words are given as bash splits them: "--accel=k" is "--accel" "=" "k".
tab() {
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _cocoonctl cocoonctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        if [ ${#COMPREPLY[@]} -gt 0 ]; then
                printf '%s\n' "${COMPREPLY[@]}"
        fi
}

# expect_tab "EXPECTED" WORD...: COMPREPLY joined by spaces, sorted, is EXPECTED.
expect_tab() {
        assert_eq "$1" "$(tab "${@:2}" | sort | paste -sd' ')" "completion of '${*:2}'"
}

systemctl start cocoon-manager.socket
cocoonctl status >/dev/null

info "verbs: top-level verbs and groups, a group's verbs with their aliases; the hidden verb is not shown"
expect_tab "vm" cocoonctl v
# Every top-level word of cocoonctl --help (verbs added later come along), which includes at least these.
top_words=$(cocoonctl --help | awk '/^  [a-z]/ { print $1 }' | sort -u | paste -sd' ')
for word in call gc image introspect status vm; do
        grep -qw "$word" <<<"$top_words" || fail "cocoonctl --help lacks $word: $top_words"
done
expect_tab "$top_words" cocoonctl ""
vm_verbs=$(tab cocoonctl vm "")
for verb in list ls ps create run start stop rm delete status console logs inspect; do
        grep -qx "$verb" <<<"$vm_verbs" || fail "'cocoonctl vm <TAB>' lacks $verb: $vm_verbs"
done
expect_tab "delete" cocoonctl image del
expect_tab "" cocoonctl __c
expect_tab "" cocoonctl bogus ""
assert_not_contains "$(cocoonctl --help)" "__complete" "cocoonctl --help"

info "options: each verb's own and the global ones, not another verb's"
stop_options=$(tab cocoonctl vm stop --)
for option in --force --timeout --json --help --address; do
        grep -qx -- "$option" <<<"$stop_options" || fail "'vm stop --<TAB>' lacks $option: $stop_options"
done
assert_not_contains "$stop_options" "--memory" "vm stop --<TAB>"
assert_not_contains "$stop_options" "--follow" "vm stop --<TAB>"
expect_tab "--follow" cocoonctl vm logs --fo
expect_tab "--address --help --json --version" cocoonctl --
expect_tab "--timeout" cocoonctl vm stop web --t

info "option values: choices (also after '='), nothing for free values"
expect_tab "auto kvm tcg" cocoonctl vm create --accel ""
expect_tab "kvm" cocoonctl vm create img --accel = k
expect_tab "auto kvm tcg" cocoonctl vm create --accel = ""
expect_tab "" cocoonctl vm create --memory ""

info "file names for PATH options"
files=$(mktemp -d)
touch "$files/vmlinuz-6.1" "$files/initrd.img"
expect_tab "$files/vmlinuz-6.1" cocoonctl image import x --kernel "$files/vm"
expect_tab "$files/initrd.img" cocoonctl image import x --initrd = "$files/ini"
# Where '=' does not break words, the option stays in front of the file name.
(
        COMP_WORDBREAKS=${COMP_WORDBREAKS//=/}
        expect_tab "--kernel=$files/vmlinuz-6.1" cocoonctl image import x "--kernel=$files/vm"
)

info "names: no VMs yet, then a VM's name after vm start and an image's after vm create"
expect_tab "" cocoonctl vm start ""
head -c 4096 /dev/urandom >"$files/kernel"
cocoonctl image import guest-image --kernel "$files/kernel" >/dev/null
image_id=$(cocoonctl image inspect guest-image | sed -n 's/^  "id": "\(.*\)",$/\1/p')
assert_eq 26 "${#image_id}" "image id"
expect_tab "guest-image" cocoonctl vm create ""
# An id is offered too once the word could start one: a random id may begin with the letter typed.
expect_tab "$(printf '%s\n' guest-image "$image_id" | grep '^g' | sort | paste -sd' ')" cocoonctl vm run --name x g
expect_tab "guest-image" cocoonctl image rm ""
expect_tab "" cocoonctl image import ""
id=$(cocoonctl vm create guest-image --name web1)
cocoonctl vm create guest-image --name db1 >/dev/null
expect_tab "db1 web1" cocoonctl vm start ""
expect_tab "$(printf '%s\n' web1 $(cocoonctl vm list -q) | grep '^w' | sort | paste -sd' ')" cocoonctl vm start w
expect_tab "db1 web1" cocoonctl vm status ""
expect_tab "db1 web1" cocoonctl vm inspect ""
# Ids once the word typed could be one; names already on the line are not offered again.
expect_tab "$id" cocoonctl vm rm "${id:0:5}"
expect_tab "db1" cocoonctl vm rm -f web1 ""
expect_tab "" cocoonctl vm inspect web1 ""
# The manager's interfaces after introspect.
interfaces=$(tab cocoonctl introspect io.cocoon.)
grep -qx io.cocoon.VM <<<"$interfaces" || fail "'introspect io.cocoon.<TAB>' lacks io.cocoon.VM: $interfaces"
assert_not_contains "$interfaces" org.varlink.service "introspect io.cocoon.<TAB>"
# Methods after call, from the interfaces' descriptions.
expect_tab "io.cocoon.VM.List" cocoonctl call io.cocoon.VM.Li
methods=$(tab cocoonctl call "")
for method in io.cocoon.Image.Import org.varlink.service.GetInfo; do
        grep -qx "$method" <<<"$methods" || fail "'call <TAB>' lacks $method: $methods"
done
expect_tab "" cocoonctl call io.cocoon.VM.List ""
# The manager named by --address is asked.
expect_tab "db1 web1" cocoonctl --address "$COCOON_SOCKET" vm stop ""

info "no manager: no names, quickly, and nothing on the terminal"
start=$SECONDS
expect_tab "" cocoonctl --address /run/cocoon/nowhere vm start ""
assert_eq "" "$(COCOON_ADDRESS=/run/cocoon/nowhere cocoonctl __complete vm start "" 2>&1)" "output"
assert_eq 0 "$(COCOON_ADDRESS=/run/cocoon/nowhere cocoonctl __complete vm start "" >/dev/null 2>&1; echo $?)" \
        "exit status without a manager"
# Generous: no wall-clock limits in tests, only "does not wait for a manager that is not there".
[ $((SECONDS - start)) -le 15 ] || fail "completion without a manager took $((SECONDS - start)) s"

info "a manager that takes the call and never answers: no names once the 2 s timeout is over"
mute=/run/cocoon-mute.sock
socat "UNIX-LISTEN:$mute,fork" SYSTEM:"sleep 30" &
mute_pid=$!
wait_for 5 test -S "$mute"
start_ms=$(date +%s%3N)
expect_tab "" cocoonctl --address "$mute" vm start ""
elapsed_ms=$(($(date +%s%3N) - start_ms))
# It gave up on its own timeout (at least 2 s), long before the mute peer's 30 s: no tighter bound, the
# machine may be loaded.
if [ "$elapsed_ms" -lt 1900 ] || [ "$elapsed_ms" -gt 20000 ]; then
        fail "completion against a mute manager took $elapsed_ms ms, expected its 2 s timeout"
fi
kill "$mute_pid"

info "zsh: the function hands cocoonctl the same words"
if command -v zsh >/dev/null; then
        # Outside a completion widget words, CURRENT and PREFIX are plain parameters; compadd, compset and
        # _files are stubbed to print what the function asks for.
        zsh_tab() {
                zsh -f -c '
                        fpath=("$1" $fpath)
                        autoload -Uz _cocoonctl
                        compadd() { [[ $1 == -a ]] && print -l -- ${(P)2}; }
                        compset() { PREFIX=${PREFIX#*=}; }
                        _files() { print -- "files:$PREFIX"; }
                        words=("${@:2}")
                        CURRENT=$#words
                        PREFIX=$words[CURRENT]
                        _cocoonctl' zsh "$zsh_dir" "$@" | sort | paste -sd' '
        }
        assert_eq "db1 web1" "$(zsh_tab cocoonctl vm start "")" "zsh: vm start"
        assert_eq "delete" "$(zsh_tab cocoonctl vm del)" "zsh: vm del"
        assert_eq "--accel=kvm" "$(zsh_tab cocoonctl vm create --accel=k)" "zsh: --accel=k"
        assert_eq "files:/bo" "$(zsh_tab cocoonctl image import x --kernel=/bo)" "zsh: --kernel=/bo"
else
        fail "zsh is missing: run tools/setup"
fi

cocoonctl vm rm web1 db1 >/dev/null
rm -rf "$files"
echo "completion OK"

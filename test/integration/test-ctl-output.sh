#!/usr/bin/env bash
# test-ctl-output.sh: what cocoonctl prints for people and for scripts: tables with short ids, relative times
# and sizes people can paste back, fitted to the terminal ($COLUMNS, a pty's size) by shortening long names;
# -q, --no-headers, --no-trunc, -o table|wide|json; "No VMs found." on stderr; exit codes 0/1/2/3; errors as
# JSON under --json; references from stdin with -; hints when the manager cannot be reached. No guest boots:
# VMs are records written by hand and VMs created (not started) from an image of random bytes.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

unset COLUMNS
vms=/var/lib/cocoon/vms

# write_record ID NAME STATE CREATED-AT [ERROR-REASON]: a VM record as the manager writes it.
write_record() {
        local reason=
        [ -z "${5:-}" ] || reason="\"errorReason\":\"$5\","
        mkdir -p "$vms/$1"
        cat >"$vms/$1/vm.json" <<JSON
{"id":"$1","name":"$2","backend":"qemu","state":"$3","config":{"cpu":2,"memory":402653184},$reason
 "storageConfigs":[],"networkConfigs":[],"firstBooted":false,"snapshotIds":[],
 "createdAt":"$4","updatedAt":"$4",
 "runDir":"/run/cocoon/vms/$1","logDir":"/var/log/cocoon/vms/$1","unit":"cocoon-vm@$1.service"}
JSON
}

ago() { # ago DATE-SPEC: an RFC 3339 time in UTC, e.g. ago '5 minutes ago'
        date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000000Z
}

# expect_rc RC COMMAND...: the command's exit code; its stdout in $out, stderr in $err.
expect_rc() {
        local rc=0
        out=$("${@:2}" 2>/tmp/ctl-output-stderr) || rc=$?
        err=$(cat /tmp/ctl-output-stderr)
        assert_eq "$1" "$rc" "exit code of ${*:2}"
}

# json_field JSON KEY: one top-level field of a JSON object (nested objects as JSON); fails if not JSON.
json_field() {
        python3 -c 'import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

long=a-very-long-vm-name-that-cannot-fit-in-a-narrow-terminal
a=webaaaaaaaaaaaaaaaaaaaaaaa
b=longbbbbbbbbbbbbbbbbbbbbbb
c=brokencccccccccccccccccccc

systemctl stop cocoon-manager.service cocoon-manager.socket 2>/dev/null || true
write_record $a web created "$(ago '5 minutes ago')"
write_record $b $long created "$(ago '2 hours ago')"
write_record $c broken error "$(ago '3 days ago')" 'the hypervisor exited with status 1\nqemu: bad'  # JSON \n
systemctl start cocoon-manager.socket
cocoonctl status >/dev/null

info "a table: short ids, relative times, sizes as they are typed"
out=$(cocoonctl vm list)
assert_eq 4 "$(wc -l <<<"$out")" "header and three VMs"
assert_eq "ID NAME STATE BACKEND CPU MEMORY IP CREATED" "$(head -1 <<<"$out" | tr -s ' ')" "header"
row=$(grep ' web ' <<<"$out")
assert_eq "${a:0:12} web created qemu 2 384Mi - 5 minutes ago" "$(tr -s ' ' <<<"$row")" "row of web"
assert_contains "$(grep "$long" <<<"$out")" "2 hours ago" "row of the long name, whole on a pipe"
assert_contains "$(grep broken <<<"$out")" "3 days ago" "row of broken"
assert_not_contains "$out" "$a" "full ids"
assert_not_contains "$out" "hypervisor exited" "the error reason (wide only)"

info "--no-headers, -q (full ids, one per line), --no-trunc"
assert_eq 3 "$(cocoonctl vm list --no-headers | wc -l)" "--no-headers"
assert_not_contains "$(cocoonctl vm list --no-headers)" "NAME" "--no-headers"
assert_eq "$(printf '%s\n' $a $b $c | sort)" "$(cocoonctl vm list -q | sort)" "-q"
assert_eq "$(cocoonctl vm list --quiet)" "$(cocoonctl vm ls -q)" "--quiet and vm ls -q"
assert_contains "$(cocoonctl vm list --no-trunc)" "$a  web" "--no-trunc shows full ids"

info "-o wide: full ids, absolute times with their zone, the ERROR column"
out=$(cocoonctl vm list -o wide)
assert_eq "ID NAME STATE BACKEND CPU MEMORY IP CREATED ERROR" "$(head -1 <<<"$out" | tr -s ' ')" "wide header"
assert_contains "$(grep broken <<<"$out")" "$c" "full id in wide"
assert_contains "$(grep broken <<<"$out")" "the hypervisor exited with status 1 qemu: bad" \
        "error reason in wide, its newline a space"
assert_eq 4 "$(wc -l <<<"$out")" "wide: header and three VMs, one line each"
row=$(grep ' web ' <<<"$out")
[[ "$row" =~ \ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ [+-][0-9]{4}\ +-$ ]] ||
        fail "wide row of web has no absolute time with a zone and '-' for no error: $row"
assert_eq "$(cocoonctl vm list --output=wide)" "$out" "--output=wide"

info "-o json is --json; JSON keeps RFC 3339 times"
json=$(cocoonctl vm list -o json)
assert_eq "$(cocoonctl vm list --json)" "$json" "-o json and --json"
assert_contains "$json" '"createdAt": "' "createdAt in JSON"
python3 -c 'import json, sys
vms = json.loads(sys.argv[1])
assert len(vms) == 3
for v in vms:
    assert v["createdAt"].endswith("Z") and "T" in v["createdAt"], v' "$json" || fail "JSON list: $json"

info "bad combinations are usage errors (exit 2)"
expect_rc 2 cocoonctl vm list -o yaml
assert_contains "$err" "invalid --output 'yaml' (table, wide or json)" "-o yaml"
expect_rc 2 cocoonctl vm list -q -o json
assert_contains "$err" "--quiet" "-q with -o json"
expect_rc 2 cocoonctl vm list --json -o wide
assert_contains "$err" "contradict" "--json with -o wide"

info "a narrow terminal: \$COLUMNS, then a pty's own size; only the name gives way, with an ellipsis"
out=$(COLUMNS=80 cocoonctl vm list)
while IFS= read -r line; do
        [ "$(printf '%s' "$line" | wc -m)" -le 80 ] || fail "line wider than 80 columns: '$line'"
done <<<"$out"
assert_not_contains "$out" "$long" "the long name at 80 columns"
assert_contains "$out" "${long:0:8}" "the long name's beginning at 80 columns"
grep -q -e "${long:0:8}[a-z-]*… " -e "${long:0:8}[a-z-]*\.\.\. " <<<"$out" ||
        fail "no ellipsis at 80 columns: $out"
assert_contains "$out" "${a:0:12}  web" "ids and short names stay whole"
assert_contains "$(COLUMNS=80 cocoonctl vm list --no-trunc)" "$long" "--no-trunc at 80 columns"
assert_contains "$(COLUMNS=80 cocoonctl vm list -o wide)" "$long" "wide at 80 columns"
assert_contains "$(COLUMNS=200 cocoonctl vm list)" "$long" "the long name at 200 columns"
out=$(COLUMNS=200 script -qec 'stty cols 76 rows 20; cocoonctl vm list' /dev/null | tr -d '\r')
assert_not_contains "$out" "$long" "the long name on a 76-column pty (its size wins over \$COLUMNS)"
while IFS= read -r line; do
        [ "$(printf '%s' "$line" | wc -m)" -le 76 ] || fail "pty line wider than 76 columns: '$line'"
done <<<"$out"

info "errors as JSON on stderr under --json, text otherwise"
expect_rc 1 cocoonctl vm inspect nope --json
assert_eq "" "$out" "stdout of a failed inspect"
assert_eq 1 "$(wc -l <<<"$err")" "one line of JSON"
assert_eq io.cocoon.VM.NoSuchVM "$(json_field "$err" error)" "error of inspect --json"
assert_contains "$(json_field "$err" parameters)" '"reference": "nope"' "parameters of inspect --json"
expect_rc 1 cocoonctl --json vm rm nope
assert_eq io.cocoon.VM.NoSuchVM "$(json_field "$err" error)" "per-reference error of rm --json"
assert_contains "$(json_field "$err" parameters)" '"reference": "nope"' "the reference in rm --json's error"
expect_rc 1 cocoonctl vm inspect nope
assert_contains "$err" "cocoonctl: io.cocoon.VM.NoSuchVM" "text error"

# expect_json_error RC ERROR COMMAND...: exit code RC, nothing on stdout, and on stderr one line of JSON with
# the error id ERROR, a message and parameters.
expect_json_error() {
        expect_rc "$1" "${@:3}"
        assert_eq "" "$out" "stdout of ${*:3}"
        assert_eq 1 "$(wc -l <<<"$err")" "one line on stderr from ${*:3}"
        python3 -c 'import json, sys
e = json.loads(sys.argv[1])
assert e["error"] == sys.argv[2], e
assert isinstance(e["message"], str) and e["message"], e
assert isinstance(e["parameters"], dict), e' "$err" "$2" || fail "not the JSON error $2 from ${*:3}: $err"
}

info "every kind of error is one JSON object under --json or -o json: the manager's, local, usage"
expect_json_error 1 io.cocoon.VM.NoSuchVM cocoonctl vm inspect nope --json
assert_contains "$(json_field "$err" message)" "nope" "the manager's message"
expect_json_error 1 io.cocoon.Image.NoSuchImage cocoonctl image inspect nope --address "$COCOON_SOCKET" --json
expect_json_error 1 cocoonctl.Failed cocoonctl image import x --kernel /nonexistent --json
assert_eq '{"errno": "ENOENT"}' "$(json_field "$err" parameters)" "errno of an unreadable --kernel"
assert_contains "$(json_field "$err" message)" "--kernel /nonexistent" "the file in the message"
expect_json_error 1 cocoonctl.Failed cocoonctl image import x --kernel /tmp --json
assert_contains "$(json_field "$err" message)" "not a regular file" "a directory for --kernel"
expect_json_error 1 cocoonctl.Failed cocoonctl vm create img --memory 12X --json
assert_contains "$(json_field "$err" message)" "invalid --memory '12X'" "a bad size"
expect_json_error 1 cocoonctl.Failed cocoonctl --json vm stop nope --timeout 0
expect_json_error 1 cocoonctl.Failed cocoonctl vm run img --console --json
expect_json_error 2 cocoonctl.UsageError cocoonctl vm list --bogus --json
assert_eq '{"verb": "vm list", "option": "--bogus"}' "$(json_field "$err" parameters)" \
        "a usage error names the verb and the option"
expect_json_error 2 cocoonctl.UsageError cocoonctl vm list -o json --since 1h
expect_json_error 2 cocoonctl.UsageError cocoonctl --json vm frob
expect_json_error 2 cocoonctl.UsageError cocoonctl vm start --json
expect_json_error 2 cocoonctl.UsageError cocoonctl --json
expect_json_error 2 cocoonctl.UsageError cocoonctl vm create --json img --name
expect_json_error 2 cocoonctl.UsageError cocoonctl vm list --json -o wide
# vm logs and vm console print byte streams: --json is refused, in JSON; before a bad --since is looked at.
expect_json_error 2 cocoonctl.UsageError cocoonctl vm logs nope --since '5 min' --json
assert_contains "$(json_field "$err" message)" "byte stream" "the reason of the refusal"
expect_json_error 2 cocoonctl.UsageError cocoonctl --json vm console nope
info "without --json the same errors stay text"
expect_rc 1 cocoonctl vm create img --memory 12X
assert_eq "cocoonctl: invalid --memory '12X' (examples: 512M, 1G)" "$err" "a bad size as text"
expect_rc 1 cocoonctl image import x --kernel /nonexistent
assert_eq "cocoonctl: --kernel /nonexistent: No such file or directory" "$err" "an unreadable --kernel as text"
expect_rc 2 cocoonctl vm list --bogus
assert_eq "cocoonctl vm list: unknown option '--bogus'; see 'cocoonctl vm list --help'" "$err" \
        "a usage error as text"

info "exit status 3 when a batch partly fails; 1 when all of it does"
expect_rc 3 cocoonctl vm rm web nope
assert_eq "$a" "$out" "the removed VM's id on stdout"
assert_contains "$err" "rm nope: io.cocoon.VM.NoSuchVM" "the failed reference on stderr"
expect_rc 1 cocoonctl vm rm nope1 nope2
expect_rc 3 cocoonctl vm stop $long nope
expect_rc 0 cocoonctl vm list
assert_contains "$(cocoonctl --help)" "3  partial failure" "exit codes in --help"

info "references from stdin with a single -"
expect_rc 0 sh -c "printf '\n  %s  \n\n' $long | cocoonctl vm stop -"
assert_eq "$b" "$out" "vm stop - with a blank-padded name"
expect_rc 0 sh -c "cocoonctl vm list -q | cocoonctl vm rm -f -"
assert_eq "$(printf '%s\n' $b $c | sort)" "$(sort <<<"$out")" "vm list -q | vm rm -f -"
expect_rc 0 sh -c "printf '\n' | cocoonctl vm rm -"
assert_contains "$err" "no references on standard input" "empty stdin"
expect_rc 1 sh -c "printf 'web\\0x\\n' | cocoonctl vm rm -"
assert_contains "$err" "standard input holds a NUL byte" "a NUL byte on stdin"

info "an empty list says so on stderr only"
expect_rc 0 cocoonctl vm list
assert_eq "" "$out" "stdout of an empty list"
assert_eq "No VMs found." "$err" "stderr of an empty list"
assert_eq 0 "$(cocoonctl vm list 2>/dev/null | wc -l)" "vm list | wc -l"
expect_rc 0 cocoonctl vm list -q
assert_eq "" "$out$err" "-q on an empty list"
expect_rc 0 cocoonctl image list
assert_eq "" "$out" "stdout of an empty image list"
assert_eq "No images found." "$err" "stderr of an empty image list"

info "sizes: 256M, 256Mi and 256MiB are one size; tables print what --memory reads back"
head -c 1048576 /dev/urandom >/tmp/ctl-output-kernel
img=$(cocoonctl image import img --kernel /tmp/ctl-output-kernel)
for spelling in 256M 256Mi 256MiB; do
        cocoonctl vm create img --name "m-$spelling" --memory "$spelling" >/dev/null
        assert_eq 268435456 "$(cocoonctl vm inspect "m-$spelling" | python3 -c \
                'import json,sys; print(json.load(sys.stdin)["config"]["memory"])')" "--memory $spelling"
done
cocoonctl vm create img --name m-frac --memory 1.5G >/dev/null
assert_contains "$(cocoonctl vm list | grep ' m-frac ')" " 1.5Gi " "1.5G listed as 1.5Gi"
assert_contains "$(cocoonctl vm list | grep ' m-256Mi ')" " 256Mi " "256Mi listed as 256Mi"
cell=$(cocoonctl vm list | awk '$2 == "m-frac" { print $6 }')
cocoonctl vm create img --name m-back --memory "$cell" >/dev/null
assert_contains "$(cocoonctl vm list | grep ' m-back ')" " 1.5Gi " "a MEMORY cell pasted back into --memory"

info "image list: short ids, sizes, -q, -o wide; image rm --json prints the removed ids"
out=$(cocoonctl image list)
row=$(tail -1 <<<"$out" | tr -s ' ' | sed 's/ [0-9]* seconds* ago$/ just now/')
assert_eq "local img ${img:0:12} 1Mi just now" "$row" "image row"
assert_contains "$(cocoonctl image list -o wide | tail -1)" " sha256:" "image list -o wide: the digest"
assert_eq "$img" "$(cocoonctl image list -q)" "image list -q"
assert_contains "$(cocoonctl image list -o wide)" "$img" "image list -o wide"
cocoonctl vm list -q | cocoonctl vm rm - >/dev/null
expect_rc 3 cocoonctl image rm img nope --json
assert_eq "[\"$img\"]" "$(tr -d ' \n' <<<"$out")" "image rm --json: the removed id, not the failed one"
assert_eq io.cocoon.Image.NoSuchImage "$(json_field "$err" error)" "image rm --json: the failure on stderr"

info "a manager that cannot be reached: the socket and what to do"
expect_rc 1 cocoonctl --address /run/cocoon/nothing-here vm list
assert_eq 1 "$(wc -l <<<"$err")" "one line"
assert_contains "$err" "/run/cocoon/nothing-here" "the socket named"
assert_contains "$err" "systemctl start cocoon-manager.socket" "the hint"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' /run/ctl-output-refused.sock
expect_rc 1 cocoonctl --address /run/ctl-output-refused.sock status
assert_contains "$err" "Connection refused" "ECONNREFUSED"
assert_contains "$err" "systemctl start cocoon-manager.socket" "the hint for ECONNREFUSED"
expect_rc 1 cocoonctl --address /run/cocoon/nothing-here status --json
assert_eq cocoonctl.Failed "$(json_field "$err" error)" "local error under --json"
assert_eq '{"errno": "ENOENT"}' "$(json_field "$err" parameters)" "errno of the local error"
assert_contains "$(json_field "$err" message)" "systemctl start cocoon-manager.socket" \
        "message of the local error"
mkdir -m 0700 /run/ctl-output-private
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' /run/ctl-output-private/sock
chmod 0777 /run/ctl-output-private/sock
rc=0
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        cocoonctl --address /run/ctl-output-private/sock status 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of a socket the caller may not open"
assert_contains "$err" "the caller must be root or in group cocoon" "the hint for EACCES"

info "ok"

#!/usr/bin/env bash
# test-vm-refs.sh: reference resolution (exact id, exact name, unique id prefix of >= 3 characters,
# ambiguous prefixes) over records written by hand, and the state rules of start, stop and rm: refusals leave
# the record alone, no-ops do not rewrite it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vms=/var/lib/cocoon/vms

# write_record ID NAME STATE: a VM record as the manager writes it, without an image (none is needed to
# resolve, inspect, or refuse).
write_record() {
        local now
        now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
        mkdir -p "$vms/$1"
        cat >"$vms/$1/vm.json" <<JSON
{"id":"$1","name":"$2","backend":"qemu","state":"$3","config":{"cpu":1,"memory":268435456},
 "storageConfigs":[],"networkConfigs":[],"firstBooted":false,"snapshotIds":[],
 "createdAt":"$now","updatedAt":"$now",
 "runDir":"/run/cocoon/vms/$1","logDir":"/var/log/cocoon/vms/$1","unit":"cocoon-vm@$1.service"}
JSON
}

# expect_error RC ERROR-NAME COMMAND...: the command exits with RC and one line on stderr naming the error;
# the line is left in $err.
expect_error() {
        local rc=0
        err=$("${@:3}" 2>&1 >/dev/null) || rc=$?
        assert_eq "$1" "$rc" "exit code of ${*:3}"
        assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "stderr lines of ${*:3}"
        assert_contains "$err" "$2" "error of ${*:3}"
}

inspect_field() { # inspect_field REF FIELD
        cocoonctl vm inspect "$1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}

# file_fingerprint PATH: inode, mtime with nanoseconds and content hash; an atomic rewrite changes the inode.
file_fingerprint() {
        echo "$(stat -c '%i %y' "$1") $(sha256sum <"$1")"
}

no_unit() { # no_unit ID: systemd knows no unit for that VM
        assert_eq "" "$(systemctl list-units --all --no-legend --plain "cocoon-vm@$1.service")" "unit of $1"
}

a=abcde2aaaaaaaaaaaaaaaaaaaa  # a and b share their first 5 characters
b=abcde3bbbbbbbbbbbbbbbbbbbb
c=zzzzq7cccccccccccccccccccc  # named like a prefix of a and b
d=mmmmm4dddddddddddddddddddd  # state stopped
g=qqqqq7gggggggggggggggggggg  # state creating: a create a killed manager left, rolled back at start
e=nnnnn5eeeeeeeeeeeeeeeeeeee  # state created
f=ppppp6ffffffffffffffffffff  # state running, but no unit

info "records written while the manager is stopped are loaded at its start"
systemctl stop cocoon-manager.service cocoon-manager.socket
write_record $a alpha stopped
write_record $b beta stopped
write_record $c abcd stopped
write_record $d delta stopped
write_record $e echo created
write_record $f ghost running
write_record $g gamma creating
systemctl start cocoon-manager.socket
cocoonctl status >/dev/null
wait_for 30 sh -c "[ ! -e $vms/$g ]"
assert_eq 6 "$(cocoonctl vm list --json | grep -c '"name"')" "VMs listed"
assert_fails cocoonctl vm inspect gamma

info "a record that says running without a unit is reconciled to error, on disk too"
assert_eq error "$(inspect_field ghost state)" "state of ghost"
assert_contains "$(inspect_field ghost errorReason)" "not running" "errorReason of ghost"
assert_contains "$(cat "$vms/$f/vm.json")" '"state":"error"' "record of ghost on disk"
no_unit $f

info "an id prefix two VMs share is AmbiguousReference naming both, exit 1"
expect_error 1 io.cocoon.VM.AmbiguousReference cocoonctl vm inspect abc
assert_contains "$err" "$a" "candidates"
assert_contains "$err" "$b" "candidates"
assert_not_contains "$err" "$c" "candidates"
expect_error 1 io.cocoon.VM.AmbiguousReference cocoonctl vm inspect abcde
reply=$(varlink_raw_call io.cocoon.VM.Inspect '{"ref":"abcd2"}')
assert_contains "$reply" '"error":"io.cocoon.VM.NoSuchVM"' "prefix of neither"
reply=$(varlink_raw_call io.cocoon.VM.Inspect '{"ref":"abcde"}')
assert_contains "$reply" '"error":"io.cocoon.VM.AmbiguousReference"' "raw Inspect of a shared prefix"
assert_contains "$reply" "\"candidates\":[\"$a\",\"$b\"]" "candidates in the error's parameters"

info "the first characters after the shared part pick one VM"
assert_eq "$a" "$(inspect_field abcde2 id)" "6-character prefix of a"
assert_eq "$b" "$(inspect_field abcde3bb id)" "8-character prefix of b"

info "a 2-character prefix never matches, even a unique one; 3 or more characters do"
expect_error 1 io.cocoon.VM.NoSuchVM cocoonctl vm inspect zz
expect_error 1 io.cocoon.VM.NoSuchVM cocoonctl vm inspect mm
assert_eq "$c" "$(inspect_field zzz id)" "3-character prefix"
assert_eq "$c" "$(inspect_field zzzz id)" "4-character prefix"
assert_eq "$d" "$(inspect_field mmmm id)" "4-character prefix"

info "exact id and exact name; an exact name wins over an id prefix"
assert_eq alpha "$(inspect_field "$a" name)" "exact id"
assert_eq "$b" "$(inspect_field beta id)" "exact name"
assert_eq "$c" "$(inspect_field abcd id)" "name that is also a shared id prefix"
expect_error 1 io.cocoon.VM.NoSuchVM cocoonctl vm inspect Alpha
expect_error 1 io.cocoon.VM.NoSuchVM cocoonctl vm inspect "${a}x"

info "batch: an ambiguous reference fails alone, the others still act and are reported"
rc=0
out=$(cocoonctl vm stop abc echo 2>/tmp/batch-stderr) || rc=$?
err=$(cat /tmp/batch-stderr)
assert_eq 3 "$rc" "exit code of a batch with an ambiguous reference (partial failure)"
assert_eq "$e" "$out" "the reference that worked"
assert_contains "$err" "stop abc: io.cocoon.VM.AmbiguousReference" "the reference that failed"
reply=$(varlink_raw_call io.cocoon.VM.Start '{"refs":["abc","nope-vm"]}')
assert_contains "$reply" '"error":"io.cocoon.VM.AmbiguousReference"' "batch result of abc"
assert_contains "$reply" '"error":"io.cocoon.VM.NoSuchVM"' "batch result of nope-vm"

info "a batch takes any number of references: 100 unknown ones are 100 errors of their own, not usage"
many=()
for i in $(seq 100); do
        many+=("nope-$i")
done
for verb in start stop rm; do
        rc=0
        err=$(cocoonctl vm $verb "${many[@]}" 2>&1 >/dev/null) || rc=$?
        assert_eq 1 "$rc" "exit code of vm $verb with 100 references"
        assert_eq 100 "$(grep -c "cocoonctl: $verb nope-[0-9]*: io.cocoon.VM.NoSuchVM" <<<"$err")" \
                "per-reference errors of vm $verb"
        assert_not_contains "$err" usage "vm $verb with 100 references"
done
rc=0
err=$(cocoonctl image rm "${many[@]}" 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of image rm with 100 references"
assert_eq 100 "$(grep -c NoSuch <<<"$err")" "per-reference errors of image rm"

# State creating is only ever seen while the manager's own create runs (and operations queue behind it);
# its refusals are the state machine's, unit-tested in test-vm-state.
info "stop of a created VM: success, nothing done, record not rewritten"
before=$(file_fingerprint "$vms/$e/vm.json")
updated=$(inspect_field echo updatedAt)
sleep 0.05 # a rewrite now would have a visibly later mtime
out=$(cocoonctl vm stop echo)
assert_eq "$e" "$out" "vm stop output"
assert_eq "$before" "$(file_fingerprint "$vms/$e/vm.json")" "record of echo after no-op stop"
assert_eq created "$(inspect_field echo state)" "state of echo"
assert_eq "$updated" "$(inspect_field echo updatedAt)" "updatedAt of echo"
no_unit $e
info "stop of a stopped VM: the same"
before=$(file_fingerprint "$vms/$a/vm.json")
cocoonctl vm stop alpha >/dev/null
assert_eq "$before" "$(file_fingerprint "$vms/$a/vm.json")" "record of alpha after no-op stop"

info "rm by unique prefix and by name"
cocoonctl vm rm zzzz beta >/dev/null
cocoonctl vm rm --force delta >/dev/null
for x in $b $c $d; do
        [ ! -e "$vms/$x" ] || fail "removed VM $x left its directory"
done
info "abc is unique now"
assert_eq "$a" "$(inspect_field abc id)" "3-character prefix once b is gone"

info "rm of a running VM without --force: InvalidState, the VM keeps running"
guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm run guest --name live --memory 128M --storage 64M)
assert_eq running "$(inspect_field live state)" "state after run"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
before=$(file_fingerprint "$vms/$id/vm.json")
expect_error 1 io.cocoon.VM.InvalidState cocoonctl vm rm live
assert_contains "$err" "running" "refusal reason"
assert_eq "$before" "$(file_fingerprint "$vms/$id/vm.json")" "record of live after refused rm"
assert_eq running "$(inspect_field live state)" "state after refused rm"
assert_eq active "$(unit_property "cocoon-vm@$id.service" ActiveState)" "unit after refused rm"
assert_eq "$pid" "$(unit_property "cocoon-vm@$id.service" MainPID)" "same hypervisor after refused rm"
info "start of a running VM is a no-op that does not rewrite the record"
cocoonctl vm start live >/dev/null
assert_eq "$before" "$(file_fingerprint "$vms/$id/vm.json")" "record of live after no-op start"
assert_eq "$pid" "$(unit_property "cocoon-vm@$id.service" MainPID)" "same hypervisor after no-op start"

cocoonctl vm rm --force live alpha echo ghost >/dev/null
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list at the end"
info "ok"

#!/usr/bin/env bash
# test-vm-disk-full.sh: with the state file system full, no call replies success for a state it did not
# write: create fails and leaves no directory, start fails and stops the hypervisor it started (record and
# unit agree), stop fails instead of claiming a stop it could not record.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

vms=/var/lib/cocoon/vms
vm_field() { # vm_field REF FIELD
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get(sys.argv[1], ""))' "$2"
}
fill() { # fill: take every free byte of the VM state file system
        dd if=/dev/zero of="$vms/filler" bs=1M status=none 2>/dev/null || true
        sync
}
unfill() { rm -f "$vms/filler"; }
# call_fails ERROR COMMAND...: the command fails and names ERROR
call_fails() {
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of ${*:2}"
        assert_contains "$err" "$1" "error of ${*:2}"
}

info "the VM state directory on a small file system of its own (mounted before the manager opens it)"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
systemctl stop cocoon-manager.service
mount -t tmpfs -o size=160M,mode=0700 cocoon-test-full "$vms"
cocoonctl status >/dev/null

info "create with the disk full: fails, nothing left behind, the name is free"
fill
call_fails "No space left" cocoonctl vm create guest --name c1 --memory 128M --storage 64M
assert_eq "filler" "$(ls "$vms")" "entries of $vms"
assert_fails cocoonctl vm inspect c1
unfill

info "start with the disk full: fails with RecordNotWritten, the unit is stopped again, the record unchanged"
id=$(cocoonctl vm create guest --name s1 --memory 128M --storage 64M)
fill
call_fails "io.cocoon.VM.RecordNotWritten" cocoonctl vm start s1
assert_eq created "$(vm_field s1 state)" "record state after the failed start"
wait_for 30 unit_property_is "cocoon-vm@$id.service" ActiveState inactive
unfill

info "stop --force with the disk full: the hypervisor is gone and the call says the stop was not recorded"
cocoonctl vm start s1 >/dev/null
assert_eq running "$(vm_field s1 state)" "state after start"
fill
call_fails "io.cocoon.VM.RecordNotWritten" cocoonctl vm stop --force s1
wait_for 30 unit_property_is "cocoon-vm@$id.service" ActiveState inactive
unfill
info "with space again, the next stop records it and rm cleans up"
cocoonctl vm stop --force s1 >/dev/null || true
state=$(vm_field s1 state)
[ "$state" = stopped ] || [ "$state" = error ] || fail "state after space came back: $state"
cocoonctl vm rm --force s1 >/dev/null
assert_eq "" "$(ls "$vms")" "entries of $vms after rm"

systemctl stop cocoon-manager.service
umount "$vms"
info "ok"

#!/usr/bin/env bash
# test-state-faults.sh: the whole state directory (/var/lib/cocoon) full, then read-only, then with
# failing fsync()s and short writes injected into the manager (test/fault/fault-inject.c by LD_PRELOAD):
# every call that would write fails with a declared error naming the cause and replies no success for a
# state it did not write (a start stops the hypervisor it started, a forced stop says it was not
# recorded), no record changes (bytes compared), nothing is left, list and inspect still answer, and the
# same manager works again once space returns or the file system is writable; a record that was written is
# the one a restarted manager serves.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
shim=$COCOON_BUILD_DIR/test/cocoon-fault-inject.so
[ -f "$shim" ] || fail "no fault injection shim at $shim (ninja builds it)"

st=/var/lib/cocoon
archive=/var/tmp/faults-snapshot.tar.zst
dropin=/run/systemd/system/cocoon-manager.service.d/50-fault-inject.conf
fault_log=/run/cocoon-fault.log

# names DIR [EXCEPT]: the entries of DIR (sorted, on one line), less EXCEPT
names() { find "$1" -mindepth 1 -maxdepth 1 -not -name "${2:-/}" -printf '%f\n' | sort | paste -sd ' '; }
# records: every record file's checksum, sorted by path
records() { find "$st" -name '*.json' -not -name '.#*' -print0 | sort -z | xargs -0 sha256sum; }
vm_field() { # vm_field REF FIELD
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get(sys.argv[1], ""))' "$2"
}
# call_fails ERROR COMMAND...: the command fails and its error names ERROR
call_fails() {
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of ${*:2}"
        assert_contains "$err" "$1" "error of ${*:2}"
}
# reads_work: what a client reads is still served
reads_work() {
        assert_contains "$(cocoonctl vm list)" s1 "vm list"
        assert_eq d1 "$(vm_field d1 name)" "inspect d1"
        assert_contains "$(cocoonctl image list)" guest "image list"
        assert_contains "$(cocoonctl snapshot list)" snap1 "snapshot list"
}
# manager_env [ASSIGNMENT...]: restart the manager with these environment variables (none: the drop-in goes)
manager_env() {
        if [ $# -gt 0 ]; then
                printf '[Service]\n' >"$dropin"
                printf 'Environment=%s\n' "$@" >>"$dropin"
        else
                rm -f "$dropin"
        fi
        systemctl daemon-reload
        systemctl restart cocoon-manager.service
}

info "the state directory on a small file system of its own (mounted before the manager opens it)"
systemctl stop cocoon-manager.service
mount -t tmpfs -o size=240M,mode=0700 cocoon-test-state "$st"
mkdir -p "${dropin%/*}"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm run guest --name s1 --memory 128M --storage 64M)
d1=$(cocoonctl vm create guest --name d1 --memory 128M --storage 64M)
cocoonctl snapshot save s1 --name snap1 >/dev/null
cocoonctl snapshot export snap1 -o "$archive" --compress zstd >/dev/null
before=$(records)
entries=$(names "$st")

info "full: every call that writes fails naming the cause, nothing is left, the running VM goes on"
vms_entries=$(names "$st/vms")
dd if=/dev/zero of="$st/filler" bs=1M status=none 2>/dev/null || true
call_fails "No space left" cocoonctl vm create guest --name c1 --memory 128M --storage 64M
assert_eq "$vms_entries" "$(names "$st/vms")" "entries of $st/vms after the failed create"
call_fails "No space left" cocoonctl image import guest2 --kernel "$KERNEL" --initrd "$INITRD" \
        --rootfs "$ROOTFS" --cmdline "$CMDLINE"
call_fails "No space left" cocoonctl snapshot save s1 --name snap2
assert_eq running "$(cocoonctl vm status s1)" "s1 after the failed snapshot"
call_fails "io.cocoon.Snapshot.SnapshotFailed" cocoonctl snapshot import - --name imp <"$archive"
cocoonctl gc >/dev/null
reads_work
for c in c1 imp snap2; do assert_fails cocoonctl vm inspect "$c"; done
assert_fails cocoonctl snapshot inspect snap2
info "full: start fails with RecordNotWritten and stops the hypervisor it started, the record unchanged"
call_fails "io.cocoon.VM.RecordNotWritten" cocoonctl vm start d1
assert_eq created "$(vm_field d1 state)" "d1 after the failed start"
wait_for 30 unit_property_is "cocoon-vm@$d1.service" ActiveState inactive
info "full: stop --force ends the hypervisor and says the stop was not recorded"
call_fails "io.cocoon.VM.RecordNotWritten" cocoonctl vm stop --force s1
wait_for 30 unit_property_is "cocoon-vm@$id.service" ActiveState inactive
assert_eq "$before" "$(records)" "records after the calls on a full disk"
assert_eq "$entries" "$(names "$st" filler)" "entries of $st"

info "space again: the same manager records the stop and writes new records"
rm "$st/filler"
cocoonctl vm stop --force s1 >/dev/null || true
state=$(vm_field s1 state)
[ "$state" = stopped ] || [ "$state" = error ] || fail "s1 after space came back: $state"
cocoonctl vm create guest --name c1 --memory 128M --storage 64M >/dev/null
cocoonctl vm rm c1 >/dev/null
before=$(records)

info "read-only: every call that writes fails naming the cause"
mount -o remount,ro "$st"
call_fails "Read-only file system" cocoonctl vm create guest --name c1 --memory 128M --storage 64M
call_fails "Read-only file system" cocoonctl image import guest2 --kernel "$KERNEL" --initrd "$INITRD" \
        --rootfs "$ROOTFS" --cmdline "$CMDLINE"
call_fails "io.cocoon.VM." cocoonctl vm start s1
wait_for 30 unit_property_is "cocoon-vm@$id.service" ActiveState inactive
call_fails "io.cocoon.System" cocoonctl vm rm d1
call_fails "Read-only file system" cocoonctl vm rm d1
call_fails "Read-only file system" cocoonctl snapshot rm snap1
call_fails "Read-only file system" cocoonctl snapshot import - --name imp <"$archive"
cocoonctl gc >/dev/null
reads_work
assert_eq "$before" "$(records)" "records after the calls on a read-only file system"
assert_eq "$state" "$(vm_field s1 state)" "s1 after the failed start"
info "a manager started meanwhile loads the records and serves them"
systemctl restart cocoon-manager.service
reads_work

info "writable again: a manager writes (one started while it was read-only has it read-only in its namespace)"
mount -o remount,rw "$st"
call_fails "Read-only file system" cocoonctl vm create guest --name c1 --memory 128M --storage 64M
systemctl restart cocoon-manager.service
cocoonctl vm rm d1 >/dev/null
assert_fails cocoonctl vm inspect d1

info "injected faults: a failing fsync of the record's temporary file fails the create, nothing is left"
rm -f "$fault_log"
manager_env "LD_PRELOAD=$shim" "COCOON_FAULT_LOG=$fault_log" \
        "COCOON_FAULT=fsync:$st/vms/*/.#vm.json.*:1+:EIO"
vms_before=$(names "$st/vms")
call_fails "Input/output error" cocoonctl vm create guest --name c2 --memory 128M --storage 64M
assert_contains "$(cat "$fault_log")" ".#vm.json." "faults injected"
assert_eq "$vms_before" "$(names "$st/vms")" "entries of $st/vms after the failed create"
assert_fails cocoonctl vm inspect c2

info "short writes and a failing fsync of the VM directory: the record written is served, also after a restart"
rm -f "$fault_log"
# ?*26: the directory itself, not the files in it ('*' and '?' match '/').
manager_env "LD_PRELOAD=$shim" "COCOON_FAULT_LOG=$fault_log" \
        "COCOON_FAULT=short:$st/vms/*/.#vm.json.*:1+;fsync:$st/vms/??????????????????????????:1+:EIO"
cocoonctl vm create guest --name c3 --memory 128M --storage 64M >/dev/null
assert_contains "$(cat "$fault_log")" "short:" "short writes injected"
assert_contains "$(cat "$fault_log")" "fsync:" "directory fsync failures injected"
served=$(cocoonctl vm inspect c3)
assert_eq created "$(vm_field c3 state)" "c3 state"
manager_env
assert_eq "$served" "$(cocoonctl vm inspect c3)" "c3 after a restart without faults"
cocoonctl vm rm c3 >/dev/null

info "injected faults: a failing fsync of an unpacked layer fails the OCI import, nothing is left"
rm -f "$fault_log"
blobs_before=$(names "$st/images/blobs")
manager_env "LD_PRELOAD=$shim" "COCOON_FAULT_LOG=$fault_log" \
        "COCOON_FAULT=fsync:$st/images/blobs/.#layer-*:1+:EIO"
call_fails "Input/output error" cocoonctl image import oci-guest "$OCI_LAYOUT"
assert_contains "$(cat "$fault_log")" ".#layer-" "faults injected"
assert_eq "$blobs_before" "$(names "$st/images/blobs")" "entries of $st/images/blobs after the failed import"
assert_fails cocoonctl image inspect oci-guest
manager_env

cocoonctl vm rm s1 >/dev/null
cocoonctl snapshot rm snap1 >/dev/null
rm -f "$archive"
systemctl stop cocoon-manager.service
umount "$st"
info "ok"

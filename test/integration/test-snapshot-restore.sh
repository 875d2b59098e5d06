#!/usr/bin/env bash
# test-snapshot-restore.sh: io.cocoon.VM.Restore on a real guest that counts on its console (cocoon.tick=1):
# save, count on, restore -> the counter goes back to the save's point and counts on, a new QEMU under the
# VM's other unit, the disks back as saved; a manager restart finds the restored unit; a restore whose state
# does not load leaves the VM on its old QEMU with its disks as they were, no second unit, no temp file; a
# second restore goes back to the first unit; another VM's snapshot and a stopped VM are refused, and a
# snapshot whose record names another machine or QEMU version is IncompatibleSnapshot naming it. Also clone
# --no-start: created, not running, and its first start resumes the saved guest; and a VM with a bridge NIC:
# its clone gets a TAP and a MAC of its own, the source's TAP untouched by its removal; its restore counts
# from the save again on the same TAP (still on the bridge), MAC and NIC list, and leaves no TAP behind.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

snapshots=/var/lib/cocoon/snapshots
manager_pid() { systemctl show -p MainPID --value cocoon-manager.service; }

json_get() {
        python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# ticks ID: every counter value the VM's guest printed, in console order.
ticks() {
        grep -a -o 'COCOON-TICK [0-9]*' "/var/log/cocoon/vms/$1/console.log" | cut -d ' ' -f 2
}

last_tick() {
        ticks "$1" | tail -n 1
}

ticks_past() {
        local t
        t=$(last_tick "$1")
        [ -n "$t" ] && [ "$t" -gt "$2" ]
}

# went_back ID HIGH LOW: somewhere in the console the counter fell from HIGH or more to LOW or less.
went_back() {
        ticks "$1" | python3 -c "
import sys
t = [int(x) for x in sys.stdin.read().split()]
sys.exit(0 if any(a >= $2 and b <= $3 for a, b in zip(t, t[1:])) else 1)"
}

vm_field() {
        cocoonctl vm inspect "$1" | json_get "$2"
}

# marker FILE OFFSET TEXT: TEXT written into FILE at OFFSET (MiB), in place. The guest never mounts its COW
# disk, so this is a change of the disk only the host makes.
marker() {
        printf '%s' "$3" | dd of="$1" bs=1M seek="$2" conv=notrunc status=none
}

# marker_at FILE OFFSET LENGTH: LENGTH bytes of FILE at OFFSET (MiB).
marker_at() {
        dd if="$1" iflag=skip_bytes,count_bytes skip="$(($2 << 20))" count="$3" status=none
}

units_of() {
        systemctl list-units --all --plain --no-legend "cocoon-vm@$1*" | awk '{print $1}' | sort
}

info "the manager serves VM.Restore"
assert_contains "$(cocoonctl introspect io.cocoon.VM)" "method Restore(" "introspect io.cocoon.VM"

info "a guest that counts, and a snapshot of it"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null
src=$(cocoonctl vm run guest --name src --memory 128M --storage 64M --append cocoon.tick=1)
cow=/var/lib/cocoon/vms/$src/cow.raw
wait_for 120 ticks_past "$src" 2
snap=$(cocoonctl snapshot save src --name s1)
at_save=$(last_tick "$src")
marker "$cow" 32 AFTER-THE-SAVE
cmp -s "$cow" "$snapshots/$snap/cow.raw" && fail "the marker did not change the COW disk"
wait_for 60 ticks_past "$src" "$((at_save + 6))"

info "restore: a new QEMU under the other unit, the counter back to the save's point, the disk as saved"
pid_before=$(vm_field src 'd["runtime"]["mainPID"]')
out=$(cocoonctl vm restore src s1 --json)
assert_eq running "$(echo "$out" | json_get 'd["state"]')" "state after the restore"
assert_eq "cocoon-vm@$src-r.service" "$(echo "$out" | json_get 'd["unit"]')" "the record's unit"
pid_after=$(vm_field src 'd["runtime"]["mainPID"]')
assert_ne "$pid_before" "$pid_after" "QEMU pid"
assert_eq "$pid_after" "$(systemctl show -p MainPID --value "cocoon-vm@$src-r.service")" "the unit's pid"
assert_eq "cocoon-vm@$src-r.service" "$(units_of "$src")" "the VM's units"
[ -S "/run/cocoon/vms/$src/r/api.sock" ] || fail "no API socket in the restored unit's run directory"
wait_for 60 went_back "$src" "$((at_save + 6))" "$((at_save + 1))"
back_to=$(last_tick "$src")
wait_for 60 ticks_past "$src" "$((back_to + 2))"
cmp "$cow" "$snapshots/$snap/cow.raw" || fail "the COW disk is not the snapshot's after the restore"
assert_eq "" "$(find "/var/lib/cocoon/vms/$src" -name '*.restore-*')" "temp files after the restore"

# Two snapshots whose records claim another machine type and another QEMU: the restart below loads them.
incm=$(cocoonctl snapshot save src --name incm)
incv=$(cocoonctl snapshot save src --name incv)
sed -i 's/"machine": *"[^"]*"/"machine":"microvm-99"/' "$snapshots/$incm/snapshot.json"
sed -i 's/"hypervisorVersion": *"[^"]*"/"hypervisorVersion":"0.0.1"/' "$snapshots/$incv/snapshot.json"

info "a manager restart finds the restored unit"
kill -9 "$(manager_pid)"
assert_eq running "$(vm_field src 'd["state"]')" "state after the manager restart"
assert_eq "$pid_after" "$(vm_field src 'd["runtime"]["mainPID"]')" "pid after the manager restart"
assert_eq "cocoon-vm@$src-r.service" "$(units_of "$src")" "units after the manager restart"

info "IncompatibleSnapshot names what differs, for clone and restore, and leaves nothing"
vms_before=$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)
incompatible() { # METHOD PARAMETERS FIELD TEXT
        local out
        out=$(varlink_raw_call "$1" "$2")
        assert_eq io.cocoon.VM.IncompatibleSnapshot "$(echo "$out" | json_get 'd["error"]')" "$1 $2"
        assert_eq "$3" "$(echo "$out" | json_get 'd["parameters"]["field"]')" "$1 $2: the field"
        assert_contains "$(echo "$out" | json_get 'd["parameters"]["message"]')" "$4" "$1 $2: the message"
}
incompatible io.cocoon.VM.Clone '{"snapshot":"incm","name":"inc1"}' machine microvm-99
incompatible io.cocoon.VM.Restore '{"vm":"src","snapshot":"incm"}' machine microvm-99
incompatible io.cocoon.VM.Clone '{"snapshot":"incv","name":"inc2"}' hypervisorVersion 0.0.1
incompatible io.cocoon.VM.Restore '{"vm":"src","snapshot":"incv"}' hypervisorVersion 0.0.1
assert_fails cocoonctl vm inspect inc1
assert_fails cocoonctl vm inspect inc2
assert_eq "$vms_before" "$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)" "VM directories"
assert_eq "$pid_after" "$(vm_field src 'd["runtime"]["mainPID"]')" "pid after the refused restores"
assert_eq "" "$(find "/var/lib/cocoon/vms/$src" -name '*.restore-*')" "temp files after the refusals"
cocoonctl snapshot rm incm incv >/dev/null

info "a restore whose saved state does not load: the VM runs on, on its old QEMU and disk"
broken=$(cocoonctl snapshot save src --name broken)
truncate -s 65536 "$snapshots/$broken/vmstate"
marker "$cow" 40 BEFORE-THE-FAIL
at_fail=$(last_tick "$src")
err=$(cocoonctl vm restore src broken 2>&1 >/dev/null) && fail "the restore of a broken snapshot succeeded"
assert_contains "$err" "HypervisorFailed: the restored hypervisor did not start" "the error"
assert_contains "$err" "load of migration failed" "the error names the cause"
assert_eq running "$(vm_field src 'd["state"]')" "state after the failed restore"
assert_eq "$pid_after" "$(vm_field src 'd["runtime"]["mainPID"]')" "pid after the failed restore"
assert_eq "cocoon-vm@$src-r.service" "$(vm_field src 'd["unit"]')" "unit after the failed restore"
assert_eq "cocoon-vm@$src-r.service" "$(units_of "$src")" "no second unit after the failed restore"
assert_eq BEFORE-THE-FAIL "$(marker_at "$cow" 40 15)" "the disk after the failed restore"
assert_eq "" "$(find "/var/lib/cocoon/vms/$src" -name '*.restore-*')" "temp files after the failed restore"
wait_for 60 ticks_past "$src" "$((at_fail + 2))"
cocoonctl snapshot rm broken >/dev/null

info "a second restore goes back to the first unit"
out=$(cocoonctl vm restore src s1 --json)
assert_eq "cocoon-vm@$src.service" "$(echo "$out" | json_get 'd["unit"]')" "the record's unit"
assert_eq "cocoon-vm@$src.service" "$(units_of "$src")" "the VM's units"
cmp "$cow" "$snapshots/$snap/cow.raw" || fail "the COW disk is not the snapshot's after the second restore"
now=$(last_tick "$src")
wait_for 60 ticks_past "$src" "$((now + 1))"

info "clone --no-start: created, not running, the saved state kept; a start resumes the saved guest"
out=$(cocoonctl vm clone s1 --name later --no-start --json)
later=$(echo "$out" | json_get 'd["id"]')
assert_eq created "$(echo "$out" | json_get 'd["state"]')" "state of the clone"
assert_eq "" "$(units_of "$later")" "units of the clone"
[ -f "/var/lib/cocoon/vms/$later/cow.raw" ] || fail "the clone has no COW disk"
[ -s "/var/lib/cocoon/vms/$later/resume-state/vmstate" ] || fail "the clone did not keep the saved state"
cocoonctl vm start later >/dev/null
assert_eq running "$(vm_field later 'd["state"]')" "state of the started clone"
wait_for 60 ticks_past "$later" "$((at_save + 1))"
first=$(ticks "$later" | head -n 1)
[ "$first" -ge 2 ] && [ "$first" -le "$((at_save + 1))" ] ||
        fail "the started clone's first tick $first is not the snapshot's point (..$at_save)"
assert_not_contains "$(cat "/var/log/cocoon/vms/$later/console.log")" COCOON-GUEST-READY "no boot"
[ ! -e "/var/lib/cocoon/vms/$later/resume-state" ] || fail "the kept state is still there after the start"

info "refused: another VM's snapshot, unknown references, a VM that is not running"
out=$(varlink_raw_call io.cocoon.VM.Restore '{"vm":"later","snapshot":"s1"}')
assert_eq io.cocoon.VM.InvalidConfiguration "$(echo "$out" | json_get 'd["error"]')" "another VM's snapshot"
assert_eq snapshot "$(echo "$out" | json_get 'd["parameters"]["field"]')" "its field"
out=$(varlink_raw_call io.cocoon.VM.Restore '{"vm":"src","snapshot":"nope"}')
assert_eq io.cocoon.VM.NoSuchSnapshot "$(echo "$out" | json_get 'd["error"]')" "unknown snapshot"
out=$(varlink_raw_call io.cocoon.VM.Restore '{"vm":"nope","snapshot":"s1"}')
assert_eq io.cocoon.VM.NoSuchVM "$(echo "$out" | json_get 'd["error"]')" "unknown VM"
out=$(varlink_raw_call io.cocoon.VM.Restore '{"vm":"src"}')
assert_eq org.varlink.service.InvalidParameter "$(echo "$out" | json_get 'd["error"]')" "no snapshot"
cocoonctl vm stop --force src >/dev/null
out=$(varlink_raw_call io.cocoon.VM.Restore '{"vm":"src","snapshot":"s1"}')
assert_eq io.cocoon.VM.InvalidState "$(echo "$out" | json_get 'd["error"]')" "restore of a stopped VM"
assert_eq stopped "$(echo "$out" | json_get 'd["parameters"]["state"]')" "its state"
assert_eq stopped "$(vm_field src 'd["state"]')" "state after the refusal"

cocoonctl vm rm --force src later >/dev/null
cocoonctl snapshot rm s1 >/dev/null
[ ! -e "/run/cocoon/vms/$src" ] || fail "the removed VM's run directory is still there"

info "a VM with a NIC: its clone gets a TAP of its own (the source's stays), its restore keeps the TAP"
ip link add brr0 type bridge
ip link set brr0 up
net=$(cocoonctl vm run guest --name net --nics 1 --bridge brr0 --memory 128M --storage 64M \
        --append cocoon.tick=1)
wait_for 120 ticks_past "$net" 1
src_tap=$(vm_field net 'd["networkConfigs"][0]["tap"]')
nics_before=$(vm_field net 'd["networkConfigs"]')
cocoonctl snapshot save net --name nets >/dev/null
net_at_save=$(last_tick "$net")
wait_for 60 ticks_past "$net" "$((net_at_save + 4))"
net_pid=$(vm_field net 'd["runtime"]["mainPID"]')
cocoonctl vm restore net nets >/dev/null
assert_ne "$net_pid" "$(vm_field net 'd["runtime"]["mainPID"]')" "the NIC VM's pid after its restore"
assert_eq "$nics_before" "$(vm_field net 'd["networkConfigs"]')" "the NIC list after the restore"
assert_contains "$(ip -d link show "$src_tap")" "master brr0" "the TAP on the bridge after the restore"
assert_contains "$(ip -d link show "$src_tap")" "multi_queue" "the TAP of a single-pair NIC"
assert_eq "$src_tap" "$(ip -o link show type tun | awk -F': ' '{ print $2 }' | cut -d@ -f1)" \
        "TAPs after the restore"
net_high=$(last_tick "$net")
wait_for 60 went_back "$net" "$net_high" "$((net_at_save + 1))"
wait_for 60 ticks_past "$net" "$((net_at_save + 2))"
# A restore that fails after its QEMU attached to the TAP leaves the TAP to the running one.
netb=$(cocoonctl snapshot save net --name netbroken)
truncate -s 65536 "$snapshots/$netb/vmstate"
net_pid=$(vm_field net 'd["runtime"]["mainPID"]')
cocoonctl vm restore net netbroken >/dev/null 2>&1 && fail "the restore of a broken snapshot succeeded"
assert_eq "$net_pid" "$(vm_field net 'd["runtime"]["mainPID"]')" "the NIC VM's pid after a failed restore"
assert_contains "$(ip -d link show "$src_tap")" "master brr0" "the TAP after a failed restore"
cocoonctl snapshot rm netbroken >/dev/null
netc=$(cocoonctl vm clone nets --name netc)
clone_tap=$(vm_field netc 'd["networkConfigs"][0]["tap"]')
assert_ne "$src_tap" "$clone_tap" "the clone's TAP"
assert_contains "$(ip -o link show "$clone_tap")" "master brr0" "the clone's TAP on the bridge"
[ "$(vm_field net 'd["networkConfigs"][0]["mac"]')" != "$(vm_field netc 'd["networkConfigs"][0]["mac"]')" ] ||
        fail "the clone kept its source's MAC"
wait_for 60 ticks_past "$netc" 1
cocoonctl vm rm --force netc >/dev/null
ip link show "$src_tap" >/dev/null 2>&1 || fail "the source's TAP went with its clone"
assert_eq running "$(vm_field net 'd["state"]')" "the source after its clone's removal"
cocoonctl vm rm --force net >/dev/null
cocoonctl snapshot rm nets >/dev/null
ip link del brr0
echo "PASS"

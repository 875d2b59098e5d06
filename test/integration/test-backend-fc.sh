#!/usr/bin/env bash
# test-backend-fc.sh: the Firecracker backend against test/fake-vmm/firecracker (which enforces the
# Firecracker API): create, start with the exact API sequence, console on stdio logged and surviving a
# manager restart, graceful stop (SendCtrlAltDel), forced stop, the hypervisor killed -> error, InstanceStart
# answering 500 -> HypervisorFailed with nothing left, delete; an OCI image's drives (its layers read-only in
# order, the COW last) and boot_args (cocoon.layers= as /dev/vdX names: Firecracker's drives have no serial).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
fake=$COCOON_SOURCE_DIR/test/fake-vmm/firecracker

# Before the first call: socket activation starts the manager with this configuration.
printf '[Firecracker]\nBinary=%s\n' "$fake" >/etc/cocoon/cocoon.conf

vm_field() { # vm_field REF FIELD
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get(sys.argv[1], ""))' "$2"
}
vm_state() { vm_field "$1" state; }
state_is() { [ "$(vm_state "$1")" = "$2" ]; }
requests() { # the calls the fake received: METHOD PATH, one a line
        awk '{ print $1, $2 }' "/run/cocoon/vms/$id/fake-firecracker.requests"
}
request_body() { # request_body PATH: the body of the last call to PATH
        awk -v p="$1" '$2 == p { $1 = ""; $2 = ""; b = $0 } END { sub(/^  /, "", b); print b }' \
                "/run/cocoon/vms/$id/fake-firecracker.requests"
}
ticks() { grep -c COCOON-TICK "/var/log/cocoon/vms/$id/console.log" || true; }
more_ticks_than() { [ "$(ticks)" -gt "$1" ]; }

info "import the test guest, create a Firecracker VM"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm create guest --name fc1 --backend firecracker --cpu 2 --memory 256M --storage 64M)
assert_eq created "$(vm_state fc1)" "state after create"
assert_eq firecracker "$(vm_field fc1 backend)" "backend"

info "start: the unit runs the fake with Firecracker's flags"
cocoonctl vm start fc1 >/dev/null
assert_eq running "$(vm_state fc1)" "state after start"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
assert_contains "$(tr '\0' ' ' </proc/"$pid"/cmdline)" "$fake --api-sock /run/cocoon/vms/$id/api.sock --id $id" \
        "command line"
assert_eq cocoon.slice "$(unit_property "cocoon-vm@$id.service" Slice)" "unit slice"
assert_eq strict "$(unit_property "cocoon-vm@$id.service" ProtectSystem)" "ProtectSystem"
# Firecracker has no emulation: its unit gets /dev/kvm whatever Accel= says, and tcg is refused.
assert_contains "$(unit_property "cocoon-vm@$id.service" DeviceAllow)" "/dev/kvm" "DeviceAllow"
err=$(cocoonctl vm create guest --name fct --backend firecracker --accel tcg 2>&1 >/dev/null) &&
        fail "a Firecracker VM with --accel tcg was created"
assert_contains "$err" "InvalidConfiguration" "error of --accel tcg"

info "the exact API sequence: boot source, drives, machine, then InstanceStart"
expected="PUT /boot-source
PUT /drives/drive_0
PUT /drives/drive_1
PUT /machine-config
GET /
PUT /actions"
assert_eq "$expected" "$(requests)" "API calls"
assert_eq '{"action_type": "InstanceStart"}' "$(request_body /actions)" "the action"
assert_eq '{"mem_size_mib": 256, "vcpu_count": 2}' "$(request_body /machine-config)" "machine-config"
assert_contains "$(request_body /drives/drive_0)" '"drive_id": "drive_0", "is_read_only": true, "is_root_device": false' \
        "drive 0 (the rootfs, read-only)"
assert_contains "$(request_body /drives/drive_1)" "\"is_read_only\": false, \"is_root_device\": false, \"path_on_host\": \"/var/lib/cocoon/vms/$id/cow.raw\"" \
        "drive 1 (the COW disk)"
assert_contains "$(request_body /boot-source)" "reboot=k pci=off" "boot_args"
assert_contains "$(cocoonctl vm debug fc1)" '#   PUT /actions {"action_type": "InstanceStart"}' "vm debug"
# Firecracker's drives have no serial: the guest is told its disks by device name, in drive order.
assert_contains "$(request_body /boot-source)" "cocoon.layers=/dev/vda cocoon.cow=/dev/vdb" "boot_args"

info "the console on Firecracker's stdout reaches console.log with nobody attached"
wait_for 20 grep -q 'COCOON-GUEST-READY fake-firecracker vcpus=2 mem=256' "/var/log/cocoon/vms/$id/console.log"
wait_for 20 more_ticks_than 1
assert_contains "$(cocoonctl vm logs fc1)" "COCOON-GUEST-READY fake-firecracker" "vm logs"

info "console input reaches Firecracker's stdin; two readers at once both see the answer"
(sleep 5) | cocoonctl vm console fc1 --no-tty >/tmp/b.out &
reader=$!
out=$( (sleep 1; printf 'hello-fc\n'; sleep 3) | cocoonctl vm console fc1 --no-tty)
wait "$reader"
assert_contains "$out" "COCOON-INPUT hello-fc" "console output of the writer"
assert_contains "$(cat /tmp/b.out)" "COCOON-INPUT hello-fc" "console output of the other reader"
grep -q 'COCOON-INPUT hello-fc' "/var/log/cocoon/vms/$id/console.log" || fail "input's answer not logged"

info "manager restart while running: the console is still logged, and input still works"
mpid=$(unit_property cocoon-manager.service MainPID)
kill -9 "$mpid"
n=$(ticks)
sleep 2 # the guest prints while no manager runs: the spool keeps it
wait_for 15 unit_property_is cocoon-manager.service ActiveState active
assert_eq running "$(vm_state fc1)" "state after the manager restart"
wait_for 15 more_ticks_than "$((n + 3))"
out=$( (sleep 1; printf 'after-restart\n'; sleep 3) | cocoonctl vm console fc1 --no-tty)
assert_contains "$out" "COCOON-INPUT after-restart" "console output after the restart"
wait_for 10 grep -q 'COCOON-INPUT after-restart' "/var/log/cocoon/vms/$id/console.log"

info "snapshot: pause, /snapshot/create (Full), resume; the source counts on"
src_ino=$(stat -c %i "/var/lib/cocoon/vms/$id/cow.raw")
: >"/run/cocoon/vms/$id/fake-firecracker.requests"
cocoonctl snapshot save fc1 --name fcsnap >/dev/null
expected="PATCH /vm
PUT /snapshot/create
GET /
PATCH /vm"
assert_eq "$expected" "$(requests)" "API calls of a snapshot"
assert_contains "$(request_body /snapshot/create)" '"snapshot_type": "Full"' "snapshot type"
snapdir=$(ls -d /var/lib/cocoon/snapshots/*/)
saved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tick"])' "$snapdir/vmstate")
[ -f "$snapdir/mem" ] || fail "no memory file in the snapshot"
n=$(ticks)
wait_for 10 more_ticks_than "$n"

info "clone: /snapshot/load, the counter resumes from the snapshot's tick, disks redirected in its namespace"
expect_error() { # expect_error ERROR-NAME COMMAND...
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of $*"
        assert_contains "$err" "$1" "error of $*"
}
expect_error InvalidConfiguration cocoonctl vm clone fcsnap --name fc3 --cpu 4
cocoonctl vm clone fcsnap --name fc2 >/dev/null
id2=$(vm_field fc2 id)
assert_eq running "$(vm_state fc2)" "state of the clone"
expected="PUT /snapshot/load
GET /
PATCH /vm"
assert_eq "$expected" "$(awk '{ print $1, $2 }' "/run/cocoon/vms/$id2/fake-firecracker.requests")" \
        "API calls of a clone"
wait_for 15 grep -q COCOON-TICK "/var/log/cocoon/vms/$id2/console.log"
assert_eq "COCOON-TICK $((saved + 1))" "$(grep -m 1 COCOON-TICK "/var/log/cocoon/vms/$id2/console.log")" \
        "the clone's first tick"
assert_not_contains "$(cat "/var/log/cocoon/vms/$id2/console.log")" "COCOON-GUEST-READY" "the clone's console"
assert_contains "$(unit_property "cocoon-vm@$id2.service" BindPaths)" \
        "/var/lib/cocoon/vms/$id2/cow.raw:/var/lib/cocoon/vms/$id/cow.raw" "the clone's disk redirection"
assert_eq "$src_ino" "$(stat -c %i "/var/lib/cocoon/vms/$id/cow.raw")" "the source's disk (not renamed)"
[ ! -L "/var/lib/cocoon/vms/$id/cow.raw" ] || fail "the source's disk became a symlink"
assert_eq running "$(vm_state fc1)" "the source after the clone"
cocoonctl vm rm --force fc2 >/dev/null
cocoonctl snapshot rm fcsnap >/dev/null

info "graceful stop: SendCtrlAltDel, the guest powers off, the fake exits"
cocoonctl vm stop fc1 >/dev/null
assert_eq stopped "$(vm_state fc1)" "state after stop"
assert_eq '{"action_type": "SendCtrlAltDel"}' "$(request_body /actions)" "stop's action"
grep -q 'reboot: Power down' "/var/log/cocoon/vms/$id/console.log" || fail "no power-off on the console"
[ ! -e "/run/cocoon/vms/$id/api.sock" ] || fail "api.sock left after stop"

info "start again, then a forced stop: no API call, systemd stops the unit"
: >"/run/cocoon/vms/$id/fake-firecracker.requests"
cocoonctl vm start fc1 >/dev/null
assert_eq running "$(vm_state fc1)" "state after the second start"
cocoonctl vm stop --force fc1 >/dev/null
assert_eq stopped "$(vm_state fc1)" "state after the forced stop"
assert_not_contains "$(requests)" "SendCtrlAltDel" "forced stop's calls"

info "the fake killed: the VM is in error within 2 s"
cocoonctl vm start fc1 >/dev/null
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
kill -9 "$pid"
wait_for 2 state_is fc1 error

info "InstanceStart answering 500: HypervisorFailed, no unit, no sockets left"
systemctl set-environment FAKE_FC_FAIL=InstanceStart=500
err=$(cocoonctl vm start fc1 2>&1 >/dev/null) && fail "start with a failing InstanceStart succeeded"
systemctl unset-environment FAKE_FC_FAIL
assert_contains "$err" "HypervisorFailed" "error of vm start"
assert_contains "$err" "injected failure of InstanceStart" "the fake's fault_message"
assert_eq error "$(vm_state fc1)" "state after the failed start"
[ -z "$(systemctl list-units --all --no-legend --plain "cocoon-vm@$id.service")" ] || fail "unit left behind"
[ ! -e "/run/cocoon/vms/$id/api.sock" ] || fail "api.sock left behind"
[ ! -e "/run/cocoon/vms/$id/console.in" ] || fail "console FIFO left behind"

info "a bzImage kernel: Firecracker gets the ELF vmlinux extracted next to the kernel blob"
deb=$(ls "$COCOON_BUILD_DIR"/guest/cache/linux-image-*_amd64.deb | head -n 1)
dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './boot/vmlinuz-*' >/tmp/vmlinuz
cocoonctl image import bz --kernel /tmp/vmlinuz --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id3=$(cocoonctl vm create bz --name fcbz --backend firecracker --storage 0)
cocoonctl vm start fcbz >/dev/null
kernel=$(id=$id3 request_body /boot-source | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel_image_path"])')
case $kernel in
/var/lib/cocoon/images/blobs/*.vmlinux) ;;
*) fail "Firecracker was given $kernel, not the vmlinux next to the kernel blob" ;;
esac
[ -f "${kernel%.vmlinux}" ] || fail "no kernel blob next to $kernel"
assert_eq "7f454c46" "$(head -c 4 "$kernel" | od -An -tx1 | tr -d ' \n')" "the cached vmlinux is ELF"
assert_eq "4d5a" "$(od -An -tx1 -N2 /tmp/vmlinuz | tr -d ' \n')" "the imported kernel is a bzImage (MZ)"
wait_for 20 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id3/console.log"
cocoonctl vm rm --force fcbz >/dev/null

info "restore with /snapshot/load answering 500: HypervisorFailed, the VM as it was (same process, disk)"
cocoonctl vm start fc1 >/dev/null
wait_for 15 more_ticks_than "$(ticks)"
cocoonctl snapshot save fc1 --name fcsnap2 >/dev/null 2>&1
snapdir=$(ls -d /var/lib/cocoon/snapshots/*/)
saved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tick"])' "$snapdir/vmstate")
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
cow=/var/lib/cocoon/vms/$id/cow.raw
cow_ino=$(stat -c %i "$cow")
units() { systemctl list-units --all --no-legend --plain "cocoon-vm@$id*" | cut -d' ' -f1; }
systemctl set-environment FAKE_FC_FAIL="PUT /snapshot/load=500"
err=$(cocoonctl vm restore fc1 fcsnap2 2>&1 >/dev/null) && fail "a restore with a failing load succeeded"
systemctl unset-environment FAKE_FC_FAIL
assert_contains "$err" "HypervisorFailed" "error of the failing restore"
assert_contains "$err" "injected failure of PUT /snapshot/load" "the fake's fault_message"
assert_eq running "$(vm_state fc1)" "state after the failed restore"
assert_eq "$pid" "$(unit_property "cocoon-vm@$id.service" MainPID)" "the process after the failed restore"
assert_eq "$cow_ino" "$(stat -c %i "$cow")" "the disk after the failed restore"
assert_eq "cocoon-vm@$id.service" "$(units)" "units after the failed restore"
assert_eq "" "$(find "/var/lib/cocoon/vms/$id" -name '*.restore-*')" "temp files after the failed restore"
assert_eq "PUT /snapshot/load" "$(awk '{ print $1, $2 }' "/run/cocoon/vms/$id/r/fake-firecracker.requests")" \
        "API calls of the failed restore"
: >"/run/cocoon/vms/$id/r/fake-firecracker.requests"

info "restore: a second Firecracker loads the snapshot as cocoon-vm@ID-r, its disk bound at the VM's path"
n=$(ticks)
wait_for 15 more_ticks_than "$((n + 1))"
cocoonctl vm restore fc1 fcsnap2 >/dev/null
assert_eq running "$(vm_state fc1)" "state after the restore"
assert_eq "cocoon-vm@$id-r.service" "$(units)" "units after the restore: the old one retired"
assert_eq "PUT /snapshot/load
GET /
PATCH /vm" "$(awk '{ print $1, $2 }' "/run/cocoon/vms/$id/r/fake-firecracker.requests")" \
        "API calls of the restored Firecracker"
assert_contains "$(unit_property "cocoon-vm@$id-r.service" BindPaths)" "$cow.restore-new:$cow" \
        "the restored unit's disk redirection"
assert_ne "$cow_ino" "$(stat -c %i "$cow")" "the disk: the snapshot's copy"
assert_eq "" "$(find "/var/lib/cocoon/vms/$id" -name '*.restore-*')" "temp files after the restore"
# The counter went back: the tick after the snapshot's is printed a second time.
again() { [ "$(grep -cx "COCOON-TICK $((saved + 1))" "/var/log/cocoon/vms/$id/console.log")" -ge 2 ]; }
wait_for 15 again

info "export carries Firecracker's state files (vmstate, mem); the import takes them back"
cocoonctl snapshot export fcsnap2 -o /var/tmp/fc.tar
assert_eq "cow.raw mem snapshot.json vmstate" "$(tar -tf /var/tmp/fc.tar | sort | xargs)" "the archive's entries"
mem_sum=$(sha256sum <"$snapdir/mem")
cocoonctl snapshot rm fcsnap2 >/dev/null
cocoonctl snapshot import /var/tmp/fc.tar --name fcsnap3 >/dev/null
assert_eq "$mem_sum" "$(sha256sum </var/lib/cocoon/snapshots/*/mem)" "the imported mem"
cocoonctl snapshot rm fcsnap3 >/dev/null
rm -f /var/tmp/fc.tar

info "delete: nothing left"
cocoonctl vm rm --force fc1 >/dev/null
[ -z "$(ls -d /var/lib/cocoon/vms/"$id" /run/cocoon/vms/"$id" /var/log/cocoon/vms/"$id" 2>/dev/null)" ] ||
        fail "directories left after delete"
info "an OCI image (the test guest's layout, imported): its layers read-only in order, the COW last"
[ -f "${OCI_LAYOUT:-}/index.json" ] || fail "no OCI test guest in $guest_env (rebuild: test/guest/build.sh)"
cocoonctl image import oci-guest "$OCI_LAYOUT" >/dev/null
read -r -a layers <<<"$(cocoonctl image inspect oci-guest | python3 -c 'import json, sys
print(" ".join(x["blob"] for x in json.load(sys.stdin)["layers"]))')"
assert_eq 3 "${#layers[@]}" "layers of the OCI test guest"
id=$(cocoonctl vm create oci-guest --name fcoci --backend firecracker --cpu 1 --memory 256M --storage 64M)
cocoonctl vm start fcoci >/dev/null
b=/var/lib/cocoon/images/blobs
for j in 0 1 2; do
        assert_contains "$(request_body /drives/drive_$j)" "{\"drive_id\": \"drive_$j\", \"is_read_only\": true, \
\"is_root_device\": false, \"path_on_host\": \"$b/${layers[$j]}.erofs\"" "drive $j (layer $j)"
done
assert_contains "$(request_body /drives/drive_3)" "\"is_read_only\": false, \"is_root_device\": false, \
\"path_on_host\": \"/var/lib/cocoon/vms/$id/cow.raw\"" "drive 3 (the COW disk)"
assert_eq "" "$(request_body /drives/drive_4)" "no fifth drive"
assert_contains "$(request_body /boot-source)" "\"boot_args\": \"console=ttyS0 reboot=k loglevel=3 pci=off \
i8042.noaux 8250.nr_uarts=1 boot=cocoon-overlay cocoon.layers=/dev/vdc,/dev/vdb,/dev/vda cocoon.cow=/dev/vdd \
clocksource=kvm-clock rw\"" "boot_args of an OCI image"
cocoonctl vm rm --force fcoci >/dev/null
cocoonctl image rm oci-guest >/dev/null

info "ok"

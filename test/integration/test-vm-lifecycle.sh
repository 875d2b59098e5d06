#!/usr/bin/env bash
# test-vm-lifecycle.sh: real QEMU guests as transient units: create, start, console, list, graceful stop,
# crash detection, manager restart, delete; bad input with specific errors and nothing left behind.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

vm_field() { # vm_field REF FIELD
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get(sys.argv[1], ""))' "$2"
}
vm_state() { vm_field "$1" state; }
leftovers() { # leftovers ID: what a VM left on disk or in systemd
        ls -d /var/lib/cocoon/vms/"$1" /run/cocoon/vms/"$1" /var/log/cocoon/vms/"$1" 2>/dev/null || true
        systemctl list-units --all --no-legend --plain "cocoon-vm@$1.service" 2>/dev/null || true
}

info "import the test guest as an image"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
cocoonctl image list --no-headers | awk '{print $2}' | grep -qx guest || fail "image not listed"

info "create: placeholder, COW disk, state created"
id=$(cocoonctl vm create guest --name demo --memory 256M --storage 64M)
assert_eq created "$(vm_state demo)" "state after create"
[ -f "/var/lib/cocoon/vms/$id/cow.raw" ] || fail "no COW disk"
assert_eq "cocoon-vm@$id.service" "$(vm_field demo unit)" "unit name"

info "start: a transient unit in cocoon.slice, QMP answers, the guest boots"
cocoonctl vm start demo >/dev/null
assert_eq running "$(vm_state demo)" "state after start"
assert_eq active "$(unit_property "cocoon-vm@$id.service" ActiveState)" "unit ActiveState"
assert_eq cocoon.slice "$(unit_property "cocoon-vm@$id.service" Slice)" "unit slice"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
assert_contains "$(cat /proc/"$pid"/cmdline | tr '\0' ' ')" "qemu-system-x86_64" "MainPID is qemu"
info "the hypervisor is sandboxed: read-only system, closed devices, only its own directories writable"
assert_eq strict "$(unit_property "cocoon-vm@$id.service" ProtectSystem)" "ProtectSystem"
assert_eq closed "$(unit_property "cocoon-vm@$id.service" DevicePolicy)" "DevicePolicy"
assert_eq yes "$(unit_property "cocoon-vm@$id.service" NoNewPrivileges)" "NoNewPrivileges"
assert_contains "$(unit_property "cocoon-vm@$id.service" BindPaths)" "/run/cocoon/vms/$id" "BindPaths"
assert_contains "$(unit_property "cocoon-vm@$id.service" BindPaths)" "/var/lib/cocoon/vms/$id/cow.raw" "BindPaths"
mounts() { awk -v p="$1" '$5 == p { print $6 }' /proc/"$pid"/mountinfo | tail -n 1; }
assert_contains ",$(mounts /var/lib/cocoon)," ",ro," "/var/lib/cocoon as the hypervisor sees it"
assert_contains ",$(mounts "/var/lib/cocoon/vms/$id/cow.raw")," ",rw," "its own disk as it sees it"
assert_contains ",$(awk '$5 == "/var/lib/cocoon" { print $6 }' /proc/self/mountinfo | tail -n 1)," ",rw," \
        "/var/lib/cocoon outside the hypervisor's sandbox"
wait_for 90 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id/console.log"
assert_contains "$(cocoonctl vm logs demo)" "COCOON-GUEST-READY" "vm logs"
assert_contains "$(cocoonctl vm logs demo)" "COCOON-DISK vda: COCOON-ROOTFS-MARKER" "rootfs attached read-only as vda"
assert_contains "$(cocoonctl vm list)" "running" "vm list"
runtime() { # runtime FIELD: from inspect (a fresh read from systemd) and from list (the manager's cache)
        cocoonctl vm inspect demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["runtime"][sys.argv[1]])' "$1"
}
assert_eq "$pid" "$(runtime mainPID)" "inspect runtime.mainPID"
assert_eq tcg "$(runtime accelerator)" "inspect runtime.accelerator (kvm-pvm is not hardware virtualization)"
assert_eq active "$(runtime activeState)" "inspect runtime.activeState"
assert_eq "$pid" "$(cocoonctl vm list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runtime"]["mainPID"])')" \
        "list runtime.mainPID"

info "graceful stop: the guest gets the power button and powers off"
cocoonctl vm stop demo >/dev/null
assert_eq stopped "$(vm_state demo)" "state after stop"
assert_contains "$(cat "/var/log/cocoon/vms/$id/console.log")" "COCOON-POWERBUTTON" "guest saw the power button"
assert_eq "" "$(systemctl list-units --no-legend --plain "cocoon-vm@$id.service")" "unit after stop"

info "start again, then kill -9 the hypervisor: the record says error within 2 s"
cocoonctl vm start demo >/dev/null
assert_eq running "$(vm_state demo)" "state after restart"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
kill -9 "$pid"
wait_for 2 sh -c "cocoonctl vm inspect demo | grep -q '\"state\": \"error\"'"
assert_contains "$(vm_field demo errorReason)" "KILL" "errorReason"

info "restart the manager while a VM runs: it keeps running and is listed; a unit without a record is stopped"
cocoonctl vm start demo >/dev/null
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
stray=cocoon-vm@zzzzzzzzzzzzzzzzzzzzzzzzzz.service
systemd-run --quiet --unit="$stray" --slice=cocoon.slice /bin/sleep 300
systemctl restart cocoon-manager.service
wait_for 5 sh -c "[ \"\$(systemctl show -p ActiveState --value $stray)\" != active ]"
journalctl -u cocoon-manager.service --no-pager | grep -q "Unit $stray has no VM record; stopping it." ||
        fail "stray unit not reported"
assert_eq running "$(vm_state demo)" "state after manager restart"
assert_eq "$pid" "$(unit_property "cocoon-vm@$id.service" MainPID)" "same hypervisor process"
assert_eq "$pid" "$(cocoonctl vm list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runtime"]["mainPID"])')" \
        "list runtime.mainPID after the manager restart"

info "delete --force leaves nothing behind"
cocoonctl vm rm --force demo >/dev/null
assert_eq "" "$(leftovers "$id")" "leftovers of $id"
kill -0 "$pid" 2>/dev/null && fail "hypervisor $pid still alive"

info "bad input: specific errors, nothing left behind"
expect_error() { # expect_error ERROR-NAME COMMAND...
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of $*"
        assert_contains "$err" "$1" "error of $*"
}
expect_error InvalidConfiguration cocoonctl vm create nope --name x1
expect_error InvalidConfiguration cocoonctl vm create guest --name 'bad name!'
expect_error InvalidConfiguration cocoonctl vm create guest --name small --memory 1M
expect_error "accel must be auto, kvm or tcg" cocoonctl vm create guest --name fast --accel hvf
expect_error NotSupported cocoonctl vm create guest --name other --backend firecracker
cocoonctl vm create guest --name taken >/dev/null
expect_error NameInUse cocoonctl vm create guest --name taken
expect_error NoSuchVM cocoonctl vm start no-such-vm
assert_eq 1 "$(cocoonctl vm list --json | grep -c '"name"')" "VMs after bad input"
ls /var/lib/cocoon/vms | wc -l | grep -qx 1 || fail "stray VM directories: $(ls /var/lib/cocoon/vms)"
cocoonctl vm rm taken >/dev/null
info "without --name: <image>-<8 characters of the id>"
id=$(cocoonctl vm create guest)
assert_eq "guest-${id:0:8}" "$(vm_field "$id" name)" "default name"
cocoonctl vm rm "$id" >/dev/null
# A kernel file that vanished from the image store: the create fails with the file named, and rolls back.
cp "$KERNEL" /var/lib/cocoon/broken-kernel && echo x >> /var/lib/cocoon/broken-kernel
cocoonctl image import broken --kernel /var/lib/cocoon/broken-kernel >/dev/null
blob=/var/lib/cocoon/images/blobs/$(sha256sum /var/lib/cocoon/broken-kernel | cut -d' ' -f1).kernel
[ -f "$blob" ] || fail "no blob $blob"
rm -f "$blob"
expect_error InvalidConfiguration cocoonctl vm create broken --name nokernel
expect_error "$blob" cocoonctl vm create broken --name nokernel
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after a failed create"
assert_eq "" "$(ls /var/lib/cocoon/vms /var/log/cocoon/vms 2>/dev/null | grep -v ':$' | grep -v '^$' || true)" \
        "directories after a failed create"

info "a running unit whose record never said running (manager gone mid-start) is adopted"
id=$(cocoonctl vm run guest --name adopted --memory 128M --storage 64M)
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
systemctl stop cocoon-manager.service cocoon-manager.socket
sed -i 's/"state":"running"/"state":"created"/' "/var/lib/cocoon/vms/$id/vm.json"
systemctl start cocoon-manager.socket
assert_eq running "$(vm_state adopted)" "state after adoption"
assert_eq "$pid" "$(unit_property "cocoon-vm@$id.service" MainPID)" "same hypervisor after adoption"
journalctl -u cocoon-manager.service --no-pager | grep -q "VM $id was running without being recorded" ||
        fail "adoption not logged"
cocoonctl vm rm --force adopted >/dev/null

info "rm of a VM whose record says error while its hypervisor still runs: the unit goes too"
id=$(cocoonctl vm run guest --name hidden --memory 128M --storage 64M)
systemctl stop cocoon-manager.service cocoon-manager.socket
sed -i 's/"state":"running"/"state":"error"/' "/var/lib/cocoon/vms/$id/vm.json"
systemctl start cocoon-manager.socket
assert_eq error "$(vm_state hidden)" "state written by hand"
assert_eq active "$(unit_property "cocoon-vm@$id.service" ActiveState)" "unit before rm"
cocoonctl vm rm hidden >/dev/null
assert_eq "" "$(leftovers "$id")" "leftovers of $id"

info "parallel: 8 VMs created and started at once, all running"
for i in 1 2 3 4 5 6 7 8; do
        cocoonctl vm run guest --name "p$i" --memory 128M --storage 64M >/dev/null &
done
wait
for i in 1 2 3 4 5 6 7 8; do
        assert_eq running "$(vm_state "p$i")" "state of p$i"
done
cocoonctl vm rm --force p1 p2 p3 p4 p5 p6 p7 p8 >/dev/null
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after removing all"
info "ok"

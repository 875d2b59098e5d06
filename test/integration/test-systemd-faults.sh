#!/usr/bin/env bash
# test-systemd-faults.sh: systemd misbehaving. StartTransientUnit refused (the VM's unit masked, or its name
# taken by another unit) and a unit that fails at once (its binary cannot be executed) are declared errors
# naming systemd's reason, and no VM is left in creating or starting; the system bus restarted under a
# running manager: its Watch callers get io.cocoon.ShuttingDown, a new manager comes up by itself, answers,
# and sees the VM's hypervisor die (the old one had lost its unit watch with the bus).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

vm_state() { cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
# call_fails ERROR COMMAND...: the command fails and its error names ERROR
call_fails() {
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of ${*:2}"
        assert_contains "$err" "$1" "error of ${*:2}"
}
state_is() { [ "$(vm_state "$1")" = "$2" ]; }
manager_pid() { systemctl show --property=MainPID --value cocoon-manager.service; }
manager_restarted() { local p; p=$(manager_pid); [ "$p" != 0 ] && [ "$p" != "$1" ]; }

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm create guest --name v1 --memory 128M --storage 64M)
unit=cocoon-vm@$id.service

info "StartTransientUnit refused, the unit masked: HypervisorFailed naming systemd's reason, state error"
systemctl mask "$unit"
call_fails "io.cocoon.VM.HypervisorFailed: systemd could not start $unit" cocoonctl vm start v1
assert_eq error "$(vm_state v1)" "state after the refused start"
systemctl unmask "$unit"

info "StartTransientUnit refused, the name taken by another unit: that unit is left alone"
systemd-run --quiet --unit="$unit" sleep 600
call_fails "is already running" cocoonctl vm start v1
assert_eq error "$(vm_state v1)" "state after the refused start"
assert_eq active "$(unit_property "$unit" ActiveState)" "the other unit"
systemctl stop "$unit"

info "the unit fails at once (its binary cannot be executed): HypervisorFailed, nothing stays starting"
mkdir -p /etc/cocoon
: >/run/not-executable
printf '[QEMU]\nBinary=/run/not-executable\n' >/etc/cocoon/cocoon.conf
systemctl restart cocoon-manager.service
call_fails "could not execute the binary" cocoonctl vm start v1
assert_eq error "$(vm_state v1)" "state after the failed start"
assert_eq inactive "$(unit_property "$unit" ActiveState)" "the VM's unit"
call_fails "io.cocoon.VM.NotSupported" cocoonctl vm run guest --name v2 --memory 128M --storage 64M
assert_fails cocoonctl vm inspect v2
info "vm run whose hypervisor exits at once: the create stays, in error, not creating"
# shellcheck disable=SC2016 # $1 is the script's
printf '#!/bin/sh\n[ "$1" = --version ] && echo "QEMU emulator version 7.2.0" && exit 0\nexit 1\n' \
        >/run/not-executable
chmod 0755 /run/not-executable
systemctl restart cocoon-manager.service
call_fails "io.cocoon.VM.HypervisorFailed" cocoonctl vm run guest --name v2 --memory 128M --storage 64M
assert_eq error "$(vm_state v2)" "state of v2 after the failed run"
cocoonctl vm rm v2 >/dev/null
rm /etc/cocoon/cocoon.conf /run/not-executable
systemctl restart cocoon-manager.service

info "the system bus restarted: Watch answered, a new manager by itself, crashes seen again"
cocoonctl vm start v1 >/dev/null
# Bounded: a manager that keeps a dead bus never ends it.
timeout 60 cocoonctl vm watch >/run/watch.out 2>&1 &
watch_pid=$!
wait_for 10 grep -q v1 /run/watch.out
old=$(manager_pid)
systemctl restart dbus.service
rc=0
wait "$watch_pid" || rc=$?
assert_ne 0 "$rc" "exit code of vm watch"
assert_contains "$(cat /run/watch.out)" "io.cocoon.ShuttingDown" "vm watch output"
wait_for 30 manager_restarted "$old"
assert_eq running "$(vm_state v1)" "v1 after the bus restart"
systemctl kill --signal=KILL "$unit"
wait_for 30 state_is v1 error
cocoonctl vm rm v1 >/dev/null
info "ok"

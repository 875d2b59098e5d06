#!/usr/bin/env bash
# test-machined.sh: a running VM is a systemd-machined machine (class vm, its unit, the hypervisor as
# leader), gone when it stops, registered again by a manager that restarts while it runs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
command -v machinectl >/dev/null || fail "machinectl missing (tools/setup installs systemd-container)"

machine_class() { machinectl list --no-legend | awk -v n="$1" '$1 == n { print $2 }'; }

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null

info "vm run: machinectl lists the VM by name, class vm, in its unit, led by the hypervisor"
id=$(cocoonctl vm run guest --name mach1 --memory 256M --storage 64M)
wait_for 30 test "$(machine_class mach1)" = vm
status=$(machinectl status mach1)
assert_contains "$status" "cocoon-vm@$id.service" "machinectl status shows the unit"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
assert_eq "$pid" "$(machinectl show -p Leader --value mach1)" "leader is the hypervisor"
assert_eq cocoon "$(machinectl show -p Service --value mach1)" "service"

info "a manager restart registers a running VM that machined lost"
busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager \
        UnregisterMachine s mach1
assert_eq "" "$(machine_class mach1)" "unregistered by hand"
systemctl restart cocoon-manager.service
cocoonctl vm list >/dev/null
wait_for 30 test "$(machine_class mach1)" = vm

info "vm stop: gone from machinectl list"
cocoonctl vm stop --force mach1 >/dev/null
wait_for 30 test -z "$(machine_class mach1)"
cocoonctl vm rm mach1 >/dev/null

info "machined: ok"

#!/usr/bin/env bash
# test-hypervisor-output.sh: the hypervisor's own output goes to the journal under the VM's unit (no
# hypervisor.log), and a start whose hypervisor dies at once fails with HypervisorFailed quoting QEMU's own
# error line from that journal: callers cannot read the journal or the root-only log directory (issue 7).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

# run_error COMMAND...: the command must fail; prints its stderr.
run_error() {
        local rc=0 err
        err=$("$@" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of $*"
        printf '%s\n' "$err"
}

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

info "a running VM: QEMU's output is in journalctl -u, not in hypervisor.log"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null
id=$(cocoonctl vm run guest --name out --memory 128M --storage 64M)
unit=cocoon-vm@$id.service
# QEMU announces the pty of the serial console on stderr.
journal_has_pty() {
        journalctl --sync 2>/dev/null || true
        journalctl -u "$unit" -o cat --no-pager | grep -q "char device redirected to /dev/pts/"
}
wait_for 10 journal_has_pty
assert_eq journal "$(unit_property "$unit" StandardOutput)" "StandardOutput= of the VM's unit"
assert_eq inherit "$(unit_property "$unit" StandardError)" "StandardError= of the VM's unit"
[ ! -e "/var/log/cocoon/vms/$id/hypervisor.log" ] || fail "hypervisor.log still written"
wait_for 60 test -s "/var/log/cocoon/vms/$id/console.log" # the console keeps its own file
cocoonctl vm rm --force out >/dev/null

info "an image whose kernel is garbage: QEMU refuses it at once"
# 1 KiB of zeros: shorter than the setup code its header claims, which QEMU refuses before it runs.
head -c 1024 /dev/zero >/var/lib/cocoon/garbage-kernel
cocoonctl image import garbage --kernel /var/lib/cocoon/garbage-kernel >/dev/null
err=$(run_error cocoonctl vm run garbage --name bad --memory 128M)
info "vm run said: $err"
assert_contains "$err" "HypervisorFailed" "error of vm run"
assert_contains "$err" "the hypervisor exited during start-up" "error of vm run"
assert_contains "$err" "qemu: invalid kernel header" "QEMU's own line in the error of vm run"
assert_contains "$err" "journalctl -u cocoon-vm@" "where the whole output is"
assert_eq error "$(vm_state bad)" "state after the failed start"

info "vm start fails the same way, quoting only this start's output"
err=$(run_error cocoonctl vm start bad)
assert_contains "$err" "HypervisorFailed" "error of vm start"
assert_contains "$err" "qemu: invalid kernel header" "QEMU's own line in the error of vm start"
assert_eq 1 "$(grep -c "invalid kernel header" <<<"$err")" "lines of earlier starts quoted"

info "the JSON error carries the same message"
json=$(cocoonctl --json vm start bad 2>/dev/null || true)
assert_contains "$json" "invalid kernel header" "JSON result of vm start"
[ ! -e /var/log/cocoon/vms/*/hypervisor.log ] || fail "hypervisor.log written for the failed start"
cocoonctl vm rm bad >/dev/null
info "hypervisor output: ok"

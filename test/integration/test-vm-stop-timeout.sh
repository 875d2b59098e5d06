#!/usr/bin/env bash
# test-vm-stop-timeout.sh: a graceful stop lasts as long as the guest takes (here the whole --timeout, the
# guest ignores the power button), and cocoonctl waits for it: a long operation is never reported as timed
# out by the client, even with a client timeout far shorter than the stop (COCOON_CLIENT_TIMEOUT_SEC=5).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

info "the client timeout comes from COCOON_CLIENT_TIMEOUT_SEC, checked before anything is sent"
rc=0
err=$(COCOON_CLIENT_TIMEOUT_SEC=soon cocoonctl vm list 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code with a bad COCOON_CLIENT_TIMEOUT_SEC"
assert_contains "$err" "invalid COCOON_CLIENT_TIMEOUT_SEC 'soon'" "message"
assert_eq "No VMs found." "$(COCOON_CLIENT_TIMEOUT_SEC=5 cocoonctl vm list 2>&1)" "quick call, 5 s timeout"
assert_eq "No VMs found." "$(COCOON_CLIENT_TIMEOUT_SEC=infinity cocoonctl vm list 2>&1)" "no client timeout"

info "a guest that ignores the power button"
cocoonctl image import stubborn --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$CMDLINE cocoon.nopowerbutton=1" >/dev/null
id=$(cocoonctl vm run stubborn --name stubborn --memory 128M --storage 64M)
wait_for 90 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id/console.log"

# Longer than the client's default timeout (45 s) too, so that a client which applied any fixed timeout to
# Stop fails here.
info "vm stop --timeout 50 with a 5 s client timeout: the CLI waits for the stop and reports success"
rc=0
errfile=$COCOON_BUILD_DIR/stop-timeout.err
out=$(COCOON_CLIENT_TIMEOUT_SEC=5 cocoonctl vm stop --timeout 50 stubborn 2>"$errfile") || rc=$?
err=$(cat "$errfile")
rm -f "$errfile"
assert_eq 0 "$rc" "exit code of vm stop (stderr: $err)"
assert_eq "$id" "$out" "vm stop output"
assert_eq "" "$err" "vm stop stderr"
assert_eq stopped "$(vm_state stubborn)" "state after the stop"
assert_not_contains "$(cat "/var/log/cocoon/vms/$id/console.log")" "COCOON-POWERBUTTON ->" \
        "the guest never acted on the power button"
assert_eq "" "$(systemctl list-units --no-legend --plain "cocoon-vm@$id.service")" "unit after stop"

cocoonctl vm rm stubborn >/dev/null
info "ok"

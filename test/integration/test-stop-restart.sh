#!/usr/bin/env bash
# test-stop-restart.sh: a graceful stop of a guest that ignores the power button never holds up the
# manager: a restart during the stop returns long before the stop timeout, the stop call is answered (the
# stop goes on in systemd), List answers and shows the VM stopping, and the VM ends up stopped, recorded by the next manager, also
# when no manager ran while the stop ended.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
UNIT=cocoon-manager.service
out=$COCOON_BUILD_DIR/test-stop-restart.out
rm -rf "$out"
mkdir -p "$out"
# The guest's time to power off, per stop call; the restart must come back in a small part of it.
STOP_TIMEOUT=40

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}
vm_state_is() { [ "$(vm_state "$1")" = "$2" ]; }
unit_gone() { unit_property_is "$1" ActiveState inactive; }

info "a guest that ignores the power button"
deaf_guest_run deaf

info "graceful stop with a $STOP_TIMEOUT s timeout; the unit is stopping in systemd"
graceful_stop_begin deaf "$STOP_TIMEOUT" "$out/stop1"

info "restart the manager during the stop: it returns long before the stop timeout"
start=$SECONDS
systemctl restart "$UNIT"
took=$((SECONDS - start))
info "the restart took ${took} s (stop timeout ${STOP_TIMEOUT} s)"
[ $((took * 4)) -lt "$STOP_TIMEOUT" ] || fail "the restart took ${took} s, the stop timeout is ${STOP_TIMEOUT} s"

info "the stop call got its answer: the stop goes on in systemd"
rc=0
wait "$stop_pid" || rc=$?
assert_ne 0 "$rc" "exit status of the interrupted vm stop"
assert_contains "$(cat "$out/stop1")" "goes on in systemd" "vm stop's answer"

info "List answers at once; the new manager shows the stop that goes on (the unit is deactivating)"
assert_contains "$(timeout 10 cocoonctl vm list)" "deaf" "vm list after the restart"
assert_eq deactivating "$(unit_property "$vm_unit" ActiveState)" "unit during the stop"
assert_eq stopping "$(vm_state deaf)" "state during the stop"

info "after the timeout systemd ends QEMU; the new manager records stopped"
wait_for $((STOP_TIMEOUT + 30)) vm_state_is deaf stopped
unit_gone "$vm_unit" || fail "unit still active"
assert_not_contains "$(cat "/var/log/cocoon/vms/$id/console.log")" "COCOON-POWERBUTTON ->" "guest output"
journalctl -u "$UNIT" --no-pager | grep -q "VM $id: stopped on request" || fail "the stop was not logged"

info "again, but no manager runs when the stop ends: the next one reconciles the record to stopped"
cocoonctl vm start deaf >/dev/null
graceful_stop_begin deaf 10 "$out/stop2"
systemctl stop "$UNIT" cocoon-manager.socket
wait "$stop_pid" || true
assert_contains "$(cat "$out/stop2")" "goes on in systemd" "vm stop's answer"
wait_for 60 unit_gone "$vm_unit"
systemctl start cocoon-manager.socket
assert_eq stopped "$(vm_state deaf)" "state after the reconciliation"

cocoonctl vm rm deaf >/dev/null
info "ok"

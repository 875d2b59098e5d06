#!/usr/bin/env bash
# test-vm-stop-force.sh: a forced stop does not wait behind a graceful stop in flight. A guest that ignores
# the power button holds a graceful stop for its whole timeout; `vm stop --force` cuts it short: both calls
# return long before that timeout and the VM ends stopped (issue 7 item 4).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
out=$COCOON_BUILD_DIR/test-vm-stop-force.out
rm -rf "$out"
mkdir -p "$out"
# The graceful stop's timeout; the forced stop must end both calls in a small part of it.
STOP_TIMEOUT=60

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

info "a guest that ignores the power button"
deaf_guest_run deaf

info "graceful stop with a $STOP_TIMEOUT s timeout; the unit is stopping in systemd"
graceful_stop_begin deaf "$STOP_TIMEOUT" "$out/graceful"

info "a forced stop during it returns long before the graceful stop's timeout"
start=$SECONDS
timeout $((STOP_TIMEOUT / 2)) cocoonctl vm stop deaf --force >"$out/force" 2>&1 \
        || fail "vm stop --force did not return in time: $(cat "$out/force")"
took=$((SECONDS - start))
info "the forced stop took ${took} s (graceful timeout ${STOP_TIMEOUT} s)"
[ $((took * 4)) -lt "$STOP_TIMEOUT" ] \
        || fail "the forced stop took ${took} s, the timeout is ${STOP_TIMEOUT} s"
assert_eq stopped "$(vm_state deaf)" "state after the forced stop"
unit_property_is "$vm_unit" ActiveState inactive || unit_property_is "$vm_unit" ActiveState failed \
        || [ -z "$(unit_property "$vm_unit" ActiveState 2>/dev/null)" ] || fail "unit still active"

info "the graceful stop call got its answer too"
rc=0
wait "$stop_pid" || rc=$?
took=$((SECONDS - start))
[ $((took * 4)) -lt "$STOP_TIMEOUT" ] || fail "the graceful stop returned after ${took} s"
assert_eq 0 "$rc" "exit status of the graceful vm stop: $(cat "$out/graceful")"
assert_not_contains "$(cat "/var/log/cocoon/vms/$id/console.log")" "COCOON-POWERBUTTON ->" "guest output"

info "a forced stop of a stopped VM is a no-op"
cocoonctl vm stop deaf --force
assert_eq stopped "$(vm_state deaf)" "state after a second forced stop"

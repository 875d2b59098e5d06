#!/usr/bin/env bash
# test-vm-kill.sh: state stopping, vm kill and vm restart (issue 7 item 4). A guest that ignores the power
# button holds a graceful stop for its whole timeout: meanwhile list, inspect, Watch and status show
# stopping, start and rm are refused at once, and `vm kill` ends it at once (the VM ends stopped: the stop
# was asked for). Kill without a stop leaves the VM in error; restart gives a new hypervisor.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
out=$COCOON_BUILD_DIR/test-vm-kill.out
rm -rf "$out"
mkdir -p "$out"
STOP_TIMEOUT=60

vm_field() {
        cocoonctl vm inspect "$1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
vm_state() {
        vm_field "$1" state
}
state_is() {
        [ "$(vm_state "$1")" = "$2" ]
}
# expect_error TEXT COMMAND...: the command fails within 10 s and its stderr contains TEXT.
expect_error() {
        local rc=0 err
        err=$(timeout 10 "${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of ${*:2}"
        assert_ne 124 "$rc" "exit code of ${*:2} (timed out)"
        assert_contains "$err" "$1" "error of ${*:2}"
}

info "a guest that ignores the power button, watched"
deaf_guest_run deaf
cocoonctl vm watch deaf --json >"$out/watch" 2>&1 &
watch_pid=$!
wait_for 10 grep -q '"current"' "$out/watch"

info "during a graceful stop the VM shows stopping"
graceful_stop_begin deaf "$STOP_TIMEOUT" "$out/graceful"
wait_for 10 state_is deaf stopping
assert_contains "$(cocoonctl vm list)" "stopping" "vm list during the stop"
stopping_count=$(cocoonctl status --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["vmsByState"].get("stopping", 0))')
assert_eq 1 "$stopping_count" "status: VMs stopping"
list_state=$(cocoonctl vm list --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])')
assert_eq stopping "$list_state" "vm list --json during the stop"

info "start and rm without force are refused at once; a bad signal names the field"
expect_error InvalidState cocoonctl vm start deaf
expect_error "VM is stopping" cocoonctl vm start deaf
expect_error InvalidState cocoonctl vm rm deaf
expect_error InvalidConfiguration cocoonctl vm kill --signal BOGUS deaf
out_json=$(varlink_raw_call io.cocoon.VM.Kill '{"refs":["deaf"],"signal":"NOPE"}')
assert_contains "$out_json" '"field":"signal"' "Kill with a bad signal"
assert_eq stopping "$(vm_state deaf)" "state after the refused calls"

info "vm kill during the stop returns at once; the VM ends stopped"
start=$SECONDS
timeout 20 cocoonctl vm kill deaf >"$out/kill" 2>&1 || fail "vm kill failed or hung: $(cat "$out/kill")"
rc=0
wait "$stop_pid" || rc=$?
took=$((SECONDS - start))
assert_eq 0 "$rc" "exit status of the graceful vm stop: $(cat "$out/graceful")"
[ $((took * 4)) -lt "$STOP_TIMEOUT" ] || fail "kill and stop took ${took} s (stop timeout ${STOP_TIMEOUT} s)"
assert_eq stopped "$(vm_state deaf)" "state after the kill"
assert_eq "" "$(vm_field deaf errorReason)" "error reason after the kill"

info "Watch saw running -> stopping -> stopped"
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
states=$(python3 -c '
import json, sys
seen = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    s = (e.get("vm") or {}).get("state")
    if s and (not seen or seen[-1] != s):
        seen.append(s)
print(" ".join(seen))' "$out/watch")
assert_contains "$states" "running stopping stopped" "states seen by Watch"

info "kill of a stopped VM: InvalidState"
expect_error InvalidState cocoonctl vm kill deaf

info "restart of a stopped VM starts it; restart of a running one gives a new hypervisor"
cocoonctl vm restart deaf >/dev/null
assert_eq running "$(vm_state deaf)" "state after restarting a stopped VM"
pid1=$(unit_property "$vm_unit" MainPID)
cocoonctl vm restart --timeout 2 deaf >/dev/null
assert_eq running "$(vm_state deaf)" "state after restart"
pid2=$(unit_property "$vm_unit" MainPID)
assert_ne "$pid1" "$pid2" "QEMU pid after restart"
[ "$pid2" -gt 0 ] || fail "no QEMU after restart"
cocoonctl vm restart --force deaf >/dev/null
pid3=$(unit_property "$vm_unit" MainPID)
assert_eq running "$(vm_state deaf)" "state after restart --force"
assert_ne "$pid2" "$pid3" "QEMU pid after restart --force"

info "a signal QEMU survives (the SIG prefix is optional): the VM keeps running"
cocoonctl vm kill --signal SIGCONT deaf >/dev/null
sleep 1
assert_eq running "$(vm_state deaf)" "state after SIGCONT"
assert_eq "$pid3" "$(unit_property "$vm_unit" MainPID)" "QEMU pid after SIGCONT"

info "restart during a stop joins it: once a kill ends the stop, the VM starts again"
graceful_stop_begin deaf "$STOP_TIMEOUT" "$out/graceful3"
wait_for 10 state_is deaf stopping
cocoonctl vm restart deaf >"$out/restart" 2>&1 &
restart_pid=$!
sleep 1
state_is deaf stopping || fail "restart did not wait for the stop in flight: $(vm_state deaf)"
start=$SECONDS
cocoonctl vm kill deaf >/dev/null
wait "$stop_pid" || fail "the graceful stop failed: $(cat "$out/graceful3")"
wait "$restart_pid" || fail "the restart failed: $(cat "$out/restart")"
[ $(((SECONDS - start) * 4)) -lt "$STOP_TIMEOUT" ] || fail "restart waited for the stop timeout"
assert_eq running "$(vm_state deaf)" "state after the joined restart"
pid4=$(unit_property "$vm_unit" MainPID)
assert_ne "$pid3" "$pid4" "QEMU pid after the joined restart"

info "SIGKILL without a stop: the VM ends in error"
cocoonctl vm kill deaf >/dev/null
wait_for 20 state_is deaf error
assert_contains "$(vm_field deaf errorReason)" "KILL" "error reason after SIGKILL"

info "rm --force during a graceful stop kills at once"
cocoonctl vm start deaf >/dev/null
# Booted or not, the guest does not power off: the stop waits for its whole timeout.
graceful_stop_begin deaf "$STOP_TIMEOUT" "$out/graceful2"
wait_for 10 state_is deaf stopping
start=$SECONDS
timeout 20 cocoonctl vm rm --force deaf >/dev/null || fail "vm rm --force during a stop failed or hung"
wait "$stop_pid" || true
[ $(((SECONDS - start) * 4)) -lt "$STOP_TIMEOUT" ] || fail "rm --force waited for the graceful stop"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after rm --force"

info "journal: the kill is one entry"
journalctl --sync 2>/dev/null || true
journalctl COCOON_VM_NAME=deaf COCOON_OPERATION=kill -o cat | grep -q "kill done" ||
        fail "no journal entry for kill"
info "kill, stopping, restart: ok"

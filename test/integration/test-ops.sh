#!/usr/bin/env bash
# test-ops.sh: operations in flight (io.cocoon.Manager.ListOperations, `cocoonctl ops`): none when idle; a
# graceful stop of a guest that ignores the power button is listed with its method, VM, caller and start
# time while it waits, and is gone once it is answered; Ctrl-C on a waiting cocoonctl exits 130 saying the
# stop goes on, and the stop stays listed, detached, until it ends (issue 7, operations in flight).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
out=$COCOON_BUILD_DIR/test-ops.out
rm -rf "$out"
mkdir -p "$out"

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

info "idle: no operations; the table says so on stderr, stdout stays empty"
assert_eq 0 "$(ops_json 'len(ops)')" "operations when idle"
assert_eq "" "$(cocoonctl ops 2>/dev/null)" "stdout of cocoonctl ops when idle"
assert_contains "$(cocoonctl ops 2>&1)" "No operations in flight." "stderr of cocoonctl ops when idle"
reply=$(varlink_raw_call io.cocoon.Manager.ListOperations)
assert_contains "$reply" '"operations":[]' "raw ListOperations when idle"

info "a guest that ignores the power button; a graceful stop waits for it"
deaf_guest_run deaf
graceful_stop_begin deaf 60 "$out/graceful"

info "the stop is listed while it waits"
wait_for 5 ops_count_is 1
assert_eq "io.cocoon.VM.Stop ['deaf'] 0" \
        "$(ops_json 'ops[0]["method"], ops[0]["vms"], ops[0]["uid"]')" "the listed operation"
started=$(ops_json 'ops[0]["startedAt"]')
[[ $started =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]] || fail "startedAt is not RFC 3339: $started"
table=$(cocoonctl ops)
assert_contains "$table" "METHOD" "ops table header"
assert_contains "$(printf '%s\n' "$table" | tail -n 1)" "io.cocoon.VM.Stop  deaf" "ops table row"
info "listing does not end it: still there after a second look"
sleep 1
assert_eq 1 "$(ops_json 'len(ops)')" "operations while the stop waits"

info "a forced stop answers both; the list is empty again"
cocoonctl vm stop deaf --force >/dev/null
wait "$stop_pid" || fail "the graceful stop failed: $(cat "$out/graceful")"
wait_for 5 ops_count_is 0

info "Ctrl-C during a graceful stop: exit 130 and one line saying the stop goes on in the manager"
cocoonctl vm start deaf >/dev/null
# Booted or not, the guest does not power off: the stop lasts its whole timeout, then the kill grace.
graceful_stop_begin deaf 20 "$out/interrupted"
wait_for 5 ops_count_is 1
kill -INT "$stop_pid"
rc=0
wait "$stop_pid" || rc=$?
assert_eq 130 "$rc" "exit code of an interrupted vm stop"
message="interrupted; vm stop of deaf continues in the manager (see cocoonctl ops)"
assert_eq "cocoonctl: $message" "$(cat "$out/interrupted")" "output of an interrupted vm stop"

info "the stop is still listed, detached (caller gone), while the manager waits for the guest"
assert_eq "io.cocoon.VM.Stop ['deaf'] True" \
        "$(ops_json 'ops[0]["method"], ops[0]["vms"], ops[0]["detached"]')" "the detached operation"
assert_contains "$(cocoonctl ops | tail -n 1)" " gone " "ops table row of the detached stop"
sleep 1
assert_eq 1 "$(ops_json 'len(ops)')" "operations after the caller went away"
assert_eq stopping "$(vm_state deaf)" "the VM while the detached stop waits"

info "under --json the line is a JSON error; a second stop, queued behind the first, stays listed too"
cocoonctl --json vm stop deaf --timeout 20 >"$out/json.out" 2>"$out/json.err" &
json_pid=$!
wait_for 5 ops_count_is 2
kill -INT "$json_pid"
rc=0
wait "$json_pid" || rc=$?
assert_eq 130 "$rc" "exit code of an interrupted vm stop --json"
assert_eq "" "$(cat "$out/json.out")" "stdout of an interrupted vm stop --json"
json_error=$(python3 -c 'import json,sys; e = json.load(open(sys.argv[1]))
print(e["error"], e["parameters"]["errno"], e["message"])' "$out/json.err")
assert_eq "cocoonctl.Failed EINTR $message" "$json_error" "JSON error of an interrupted stop"
wait_for 5 ops_count_is 2
assert_eq "[True, True]" "$(ops_json '[o["detached"] for o in ops]')" "both stops detached"

info "once the stop timeout ends the stop, both are gone and the VM is stopped"
wait_for 60 ops_count_is 0
assert_eq stopped "$(vm_state deaf)" "the VM after the detached stop"
cocoonctl vm rm deaf >/dev/null
info "ok"

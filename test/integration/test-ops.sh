#!/usr/bin/env bash
# test-ops.sh: operations in flight (io.cocoon.Manager.ListOperations, `cocoonctl ops`): none when idle; a
# graceful stop of a guest that ignores the power button is listed with its method, VM, caller and start
# time while it waits, and is gone once it is answered (issue 7, operations in flight).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
out=$COCOON_BUILD_DIR/test-ops.out
rm -rf "$out"
mkdir -p "$out"

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
cocoonctl vm rm deaf >/dev/null
info "ok"

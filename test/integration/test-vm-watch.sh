#!/usr/bin/env bash
# test-vm-watch.sh: io.cocoon.VM.Watch through `cocoonctl vm watch --json`: the current state first, then
# added/changed/removed as VMs are created, started, crash and are deleted; a refs filter that ends the watch
# when its VMs are gone; timestamps; "more" required. And `cocoonctl vm status`: a state, an exit code per
# state.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

all_events=/tmp/watch-all.jsonl
pre1_events=/tmp/watch-pre1.jsonl
watchers=()
stop_watchers() {
        local pid
        for pid in "${watchers[@]}"; do
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        watchers=()
}
trap stop_watchers EXIT

# events FILE [ID]: one "event state" line per event (of that VM only), state "-" when the event has no vm.
events() {
        python3 - "$@" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue  # the watcher is still writing this line; wait_for asks again
    if len(sys.argv) > 2 and e.get("id") != sys.argv[2]:
        continue
    print(e["event"], e.get("vm", {}).get("state", "-"))
PY
}

# has_event FILE ID EVENT STATE: the file holds that event for that VM (STATE "-": no vm in the event).
has_event() {
        events "$1" "$2" | grep -qx "$3 $4"
}

# ids FILE: the VM ids the events are about: sorted, unique, on one line.
ids() {
        python3 -c 'import json,sys; print(*sorted({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$1"
}

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$CMDLINE" >/dev/null
pre1=$(cocoonctl vm create guest --name pre1 --memory 128M --storage 64M)
pre2=$(cocoonctl vm create guest --name pre2 --memory 128M --storage 64M)

info "a Watch starts with one current event per existing VM"
cocoonctl vm watch --json >"$all_events" &
watchers+=($!)
cocoonctl vm watch --json pre1 >"$pre1_events" &
pre1_watcher=$!
text_events=/tmp/watch-text.txt
cocoonctl vm watch pre2 >"$text_events" &
watchers+=($!)
wait_for 5 has_event "$all_events" "$pre1" current created
wait_for 5 has_event "$all_events" "$pre2" current created
wait_for 5 has_event "$pre1_events" "$pre1" current created
assert_eq 2 "$(wc -l <"$all_events")" "events before any change"
assert_eq "current created" "$(events "$pre1_events")" "events of the filtered watch"
python3 - "$all_events" <<'PY' || fail "an event of vm watch --json has no RFC 3339 timestamp"
import json, re, sys
for line in open(sys.argv[1]):
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", json.loads(line).get("timestamp", "")):
        sys.exit(1)
PY
wait_for 5 grep -q "$pre2" "$text_events"
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}  $pre2  pre2 +created$" \
        "$text_events" || fail "text line of vm watch: $(cat "$text_events")"

info "vm status: the state, exit 3 for created, 4 for no such VM, the highest for several"
rc=0
out=$(cocoonctl vm status pre1) || rc=$?
assert_eq "created:3" "$out:$rc" "vm status of a created VM"
rc=0
out=$(cocoonctl vm status no-such-vm) || rc=$?
assert_eq "not-found:4" "$out:$rc" "vm status of a missing VM"
rc=0
out=$(cocoonctl vm status pre1 no-such-vm pre2 | paste -sd , -; exit "${PIPESTATUS[0]}") || rc=$?
assert_eq "created,not-found,created:4" "$out:$rc" "vm status of several VMs"
rc=0
out=$(cocoonctl vm status --json pre1 2>/dev/null) || rc=$?
assert_eq 3 "$rc" "exit code of vm status --json"
assert_eq "pre1 created" "$(printf '%s' "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin)[0]
print(v["name"], v["state"])')" "vm status --json"

info "create: added"
id=$(cocoonctl vm create guest --name w --memory 128M --storage 64M)
wait_for 5 has_event "$all_events" "$id" changed created
assert_eq added "$(events "$all_events" "$id" | head -n 1 | cut -d ' ' -f 1)" "first event of a new VM"

info "start: changed, state running"
cocoonctl vm start w >/dev/null
wait_for 5 has_event "$all_events" "$id" changed running
rc=0
out=$(cocoonctl vm status w) || rc=$?
assert_eq "running:0" "$out:$rc" "vm status of a running VM"

info "kill -9 of the hypervisor: changed, state error, within 2 s"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
assert_ne 0 "$pid" "MainPID of the running VM"
kill -9 "$pid"
wait_for 2 has_event "$all_events" "$id" changed error
python3 - "$all_events" "$id" <<'PY' || fail "the error event has no errorReason naming the signal"
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue  # the watcher is still writing this line; wait_for asks again
    if e["id"] == sys.argv[2] and e["vm"]["state"] == "error":
        sys.exit(0 if "KILL" in e["vm"].get("errorReason", "") else 1)
sys.exit(1)
PY
rc=0
out=$(cocoonctl vm status w pre1) || rc=$?
assert_eq "error created:6" "$(printf '%s' "$out" | paste -sd ' ' -):$rc" "vm status of a VM in error"

info "rm: removed, without a vm; nothing after it"
cocoonctl vm rm w >/dev/null
wait_for 5 has_event "$all_events" "$id" removed -
assert_eq "removed -" "$(events "$all_events" "$id" | tail -n 1)" "last event of a removed VM"
# The order matters to a consumer: each step after the one before it.
order=$(events "$all_events" "$id" | grep -nx -e 'added creating' -e 'changed running' -e 'changed error' \
        -e 'removed -' | cut -d : -f 2 | paste -sd , -)
assert_eq "added creating,changed running,changed error,removed -" "$order" "order of the events of $id"

info "the filtered watch saw none of it; it sees its own VM go, then ends (exit 0)"
kill -0 "$pre1_watcher" 2>/dev/null || fail "the watch of pre1 ended before pre1 went"
cocoonctl vm rm pre1 >/dev/null
wait_for 5 has_event "$pre1_events" "$pre1" removed -
rc=0
timeout 5 tail --pid="$pre1_watcher" -f /dev/null || fail "the watch of pre1 outlived pre1"
wait "$pre1_watcher" || rc=$?
assert_eq 0 "$rc" "exit code of the watch of a removed VM"
assert_eq "$pre1" "$(ids "$pre1_events")" "VMs the filtered watch saw"
assert_eq "current created,removed -" "$(events "$pre1_events" | paste -sd , -)" \
        "events of the filtered watch"
wait_for 5 has_event "$all_events" "$pre1" removed -
assert_eq "$(printf '%s\n' "$id" "$pre1" "$pre2" | sort | paste -sd ' ' -)" "$(ids "$all_events")" \
        "VMs the unfiltered watch saw"

info "the unfiltered watch and the watch of pre2 are still running"
for pid in "${watchers[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "watch $pid ended on its own"
done
stop_watchers

info "a filter naming a missing VM is NoSuchVM, exit 1"
rc=0
err=$(cocoonctl vm watch --json no-such-vm 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of a watch of a missing VM"
assert_contains "$err" "io.cocoon.VM.NoSuchVM" "watch of a missing VM"

info "a raw Watch without more: org.varlink.service.ExpectedMore"
reply=$(varlink_raw_call io.cocoon.VM.Watch '{}')
assert_contains "$reply" '"error":"org.varlink.service.ExpectedMore"' "Watch without more"
reply=$(varlink_raw_call io.cocoon.VM.Watch '{"refs":["pre2"]}')
assert_contains "$reply" '"error":"org.varlink.service.ExpectedMore"' "Watch with refs without more"
assert_eq 1 "$(printf '%s\n' "$reply" | grep -c .)" "replies to a Watch without more"

cocoonctl vm rm pre2 >/dev/null
info "ok"

#!/usr/bin/env bash
# test-vm-watch.sh: io.cocoon.VM.Watch through `cocoonctl vm status --json`: the current state first, then
# added/changed/removed as VMs are created, started, crash and are deleted; a refs filter; "more" required.
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
cocoonctl vm status --json >"$all_events" &
watchers+=($!)
cocoonctl vm status --json pre1 >"$pre1_events" &
watchers+=($!)
wait_for 5 has_event "$all_events" "$pre1" current created
wait_for 5 has_event "$all_events" "$pre2" current created
wait_for 5 has_event "$pre1_events" "$pre1" current created
assert_eq 2 "$(wc -l <"$all_events")" "events before any change"
assert_eq "current created" "$(events "$pre1_events")" "events of the filtered watch"

info "create: added"
id=$(cocoonctl vm create guest --name w --memory 128M --storage 64M)
wait_for 5 has_event "$all_events" "$id" changed created
assert_eq added "$(events "$all_events" "$id" | head -n 1 | cut -d ' ' -f 1)" "first event of a new VM"

info "start: changed, state running"
cocoonctl vm start w >/dev/null
wait_for 5 has_event "$all_events" "$id" changed running

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

info "rm: removed, without a vm; nothing after it"
cocoonctl vm rm w >/dev/null
wait_for 5 has_event "$all_events" "$id" removed -
assert_eq "removed -" "$(events "$all_events" "$id" | tail -n 1)" "last event of a removed VM"
# The order matters to a consumer: each step after the one before it.
order=$(events "$all_events" "$id" | grep -nx -e 'added creating' -e 'changed running' -e 'changed error' \
        -e 'removed -' | cut -d : -f 2 | paste -sd , -)
assert_eq "added creating,changed running,changed error,removed -" "$order" "order of the events of $id"

info "the filtered watch saw none of it; it sees its own VM go"
cocoonctl vm rm pre1 >/dev/null
wait_for 5 has_event "$pre1_events" "$pre1" removed -
assert_eq "$pre1" "$(ids "$pre1_events")" "VMs the filtered watch saw"
assert_eq "current created,removed -" "$(events "$pre1_events" | paste -sd , -)" \
        "events of the filtered watch"
wait_for 5 has_event "$all_events" "$pre1" removed -
assert_eq "$(printf '%s\n' "$id" "$pre1" "$pre2" | sort | paste -sd ' ' -)" "$(ids "$all_events")" \
        "VMs the unfiltered watch saw"

info "both watches are still running"
for pid in "${watchers[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "watch $pid ended on its own"
done
stop_watchers

info "a filter naming a missing VM is NoSuchVM, exit 1"
rc=0
err=$(cocoonctl vm status --json no-such-vm 2>&1 >/dev/null) || rc=$?
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

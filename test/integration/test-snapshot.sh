#!/usr/bin/env bash
# test-snapshot.sh: snapshots of a real guest that counts on its console (cocoon.tick=1): save, the source
# counting on, the snapshot listed, inspected and in the VM's snapshotIds; save of a VM that is not running;
# delete (refused while a clone reads the snapshot); a manager killed during a save (its QEMU stopped, so surely mid-save) leaves nothing listed, the
# source running on, and gc the leftovers.
# Shared memory: the snapshot keeps the RAM as a file that clones map copy-on-write (and keep running from
# when it is deleted); a snapshot of a clone holds its RAM in the state.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

snapshots=/var/lib/cocoon/snapshots
manager_pid() { systemctl show -p MainPID --value cocoon-manager.service; }

# json_get EXPRESSION: evaluate a Python expression over the JSON document on stdin (as `d`).
json_get() {
        python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# last_tick ID: the last counter value the VM's guest printed.
last_tick() {
        grep -a -o 'COCOON-TICK [0-9]*' "/var/log/cocoon/vms/$1/console.log" | tail -n 1 | cut -d ' ' -f 2
}

# ticks_past ID N: the guest has counted past N.
ticks_past() {
        local t
        t=$(last_tick "$1")
        [ -n "$t" ] && [ "$t" -gt "$2" ]
}

vm_field() {
        cocoonctl vm inspect "$1" | json_get "$2"
}

info "the manager serves io.cocoon.Snapshot and VM.Clone"
assert_contains "$(varlink_raw_call org.varlink.service.GetInfo)" '"io.cocoon.Snapshot"' "GetInfo interfaces"
assert_contains "$(cocoonctl introspect io.cocoon.Snapshot)" "method Save(" "introspect"
assert_contains "$(cocoonctl introspect io.cocoon.VM)" "method Clone(" "introspect io.cocoon.VM"

info "a guest that counts"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null

info "a guest whose RAM file would not fit the run directory's tmpfs: it runs on anonymous RAM"
free_mib=$(($(stat -f -c '%a * %S' /run/cocoon/vms) >> 20))
host_mib=$(($(getconf _PHYS_PAGES) * $(getconf PAGESIZE) >> 20))
if [ $((free_mib + 1024)) -le "$host_mib" ]; then
        huge=$(cocoonctl vm run guest --name huge --memory "$((free_mib + 1024))M" --storage 64M)
        assert_eq active "$(systemctl show -p ActiveState --value "cocoon-vm@$huge.service")" \
                "the unit of the guest whose RAM does not fit the tmpfs"
        [ ! -e "/run/cocoon/vms/$huge/ram" ] || fail "a RAM file larger than the free tmpfs was made"
        wait_for 30 sh -c "journalctl -u cocoon-manager.service --no-pager -o cat |
                grep -q 'anonymous RAM, its snapshots will stream it'"
        cocoonctl vm rm --force huge >/dev/null
else
        info "skipped: the run directory's tmpfs ($free_mib MiB free) is not smaller than the host's RAM"
fi

src=$(cocoonctl vm run guest --name src --memory 128M --storage 64M --append cocoon.tick=1)
cocoonctl vm create guest --name idle0 --memory 128M --storage 64M >/dev/null
wait_for 120 ticks_past "$src" 2

info "save: a snapshot of the running VM, which counts on"
before_save=$(last_tick "$src")
out=$(cocoonctl snapshot save src --name s1 --description first --json)
snap=$(echo "$out" | json_get 'd["id"]')
assert_eq s1 "$(echo "$out" | json_get 'd["name"]')" "snapshot name"
assert_eq "$src" "$(echo "$out" | json_get 'd["vm"]')" "snapshot's source"
[ -s "$snapshots/$snap/vmstate" ] || fail "no device state in the snapshot"
[ -f "$snapshots/$snap/cow.raw" ] || fail "no copy of the COW disk in the snapshot"
[ -f "$snapshots/$snap/snapshot.json" ] || fail "no snapshot.json"
[ ! -e "$snapshots/$snap/pending.json" ] || fail "a complete snapshot is still pending"
at_save=$(last_tick "$src")
wait_for 30 ticks_past "$src" "$((at_save + 2))"
assert_eq running "$(vm_field src 'd["state"]')" "source state after the save"
assert_eq "['$snap']" "$(vm_field src 'd["snapshotIds"]')" "source's snapshotIds"

info "clone: a new VM that counts on from the snapshot's point, while the source counts on too"
out=$(cocoonctl vm clone s1 --json)
clone=$(echo "$out" | json_get 'd["id"]')
assert_eq "s1-clone-${clone:0:8}" "$(echo "$out" | json_get 'd["name"]')" "default clone name"
assert_eq running "$(echo "$out" | json_get 'd["state"]')" "clone state"
assert_ne "$src" "$clone" "clone id"
wait_for 30 ticks_past "$clone" "$((at_save + 1))"
clone_log=/var/log/cocoon/vms/$clone/console.log
first=$(grep -a -o 'COCOON-TICK [0-9]*' "$clone_log" | head -n 1 | cut -d ' ' -f 2)
[ "$first" -gt "$before_save" ] && [ "$first" -le "$((at_save + 1))" ] ||
        fail "the clone's first tick $first is not where the snapshot was taken ($before_save..$at_save)"
assert_not_contains "$(cat "$clone_log")" COCOON-GUEST-READY "clone console (no boot)"
[ -f "/var/lib/cocoon/vms/$clone/cow.raw" ] || fail "the clone has no COW disk of its own"
wait_for 30 ticks_past "$src" "$(last_tick "$src")"

info "shared memory: the source's RAM is a file, the snapshot keeps it as one, the clone maps it copy-on-write"
qemu_pid() { systemctl show -p MainPID --value "cocoon-vm@$1.service"; }
[ -f "/run/cocoon/vms/$src/ram" ] || fail "the source's RAM is not a file in its run directory"
assert_eq file "$(cocoonctl snapshot inspect s1 | json_get 'd["memoryFormat"]')" "memoryFormat"
assert_eq 134217728 "$(stat -c %s "$snapshots/$snap/ram")" "size of the snapshot's memory file"
state_size=$(stat -c %s "$snapshots/$snap/vmstate")
[ "$state_size" -lt $((134217728 / 64)) ] || fail "the state holds the RAM: $state_size bytes"
assert_contains "$(cat "/proc/$(qemu_pid "$clone")/maps")" "$snapshots/$snap/ram" "the clone's mappings"
[ ! -e "/run/cocoon/vms/$clone/ram" ] || fail "the clone has a memory file of its own"

info "a snapshot of a clone: its RAM is private, so the state holds it (stream); its clones run"
out=$(cocoonctl snapshot save "$clone" --name of-clone --json)
of_clone=$(echo "$out" | json_get 'd["id"]')
assert_eq stream "$(echo "$out" | json_get 'd["memoryFormat"]')" "memoryFormat of a clone's snapshot"
[ ! -e "$snapshots/$of_clone/ram" ] || fail "a stream snapshot has a memory file"
state_size=$(stat -c %s "$snapshots/$of_clone/vmstate")
[ "$state_size" -gt $((134217728 / 16)) ] || fail "the stream state is only $state_size bytes"
at_save2=$(last_tick "$clone")
cc=$(cocoonctl vm clone of-clone --name clone-of-clone)
wait_for 60 ticks_past "$cc" "$((at_save2 + 1))"
[ ! -e "/run/cocoon/vms/$cc/ram" ] || fail "a clone of a stream snapshot has a memory file"
cocoonctl vm rm --force clone-of-clone >/dev/null
cocoonctl snapshot rm of-clone >/dev/null

info "clone with more storage: its COW disk grows, and QEMU has the new size"
grown=$(cocoonctl vm clone s1 --name grown --storage 128M)
assert_eq 134217728 "$(stat -c %s "/var/lib/cocoon/vms/$grown/cow.raw")" "grown COW file"
qmp_sizes=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-block"}' |
        socat -t 2 - "UNIX-CONNECT:/run/cocoon/vms/$grown/api.sock" | grep -a '"device"')
assert_contains "$qmp_sizes" '"virtual-size": 134217728' "QEMU's size of the grown disk"
wait_for 30 ticks_past "$grown" "$((at_save + 1))"
cocoonctl vm rm --force grown >/dev/null

info "a snapshot a clone is reading cannot be deleted meanwhile: InvalidState; the clone completes"
# A race by nature: the Delete is sent once the Clone is listed, and a clone on a quiet host may be past
# reading the snapshot by then (the Delete then succeeds, rightly). A snapshot of its own for each try, so a
# lost race costs nothing; up to 5 tries, each asserting what it saw.
clone_listed() { [ "$(ops_json '[o["method"] for o in ops]')" = "['io.cocoon.VM.Clone']" ]; }
refused=0
for try in 1 2 3 4 5; do
        cocoonctl snapshot save src --name "race$try" >/dev/null
        (cocoonctl vm clone "race$try" --name "racer$try" >/dev/null) &
        racer=$!
        # Listed, or done already before a poll saw it (then the Delete comes after the read).
        race_listed_or_done() { clone_listed || cocoonctl vm inspect "racer$try" >/dev/null 2>&1; }
        wait_for 30 race_listed_or_done
        out=$(varlink_raw_call io.cocoon.Snapshot.Delete "{\"ref\":\"race$try\"}")
        wait "$racer" || fail "the clone failed beside a delete of its snapshot"
        assert_eq running "$(vm_field "racer$try" 'd["state"]')" "the clone beside the delete"
        cocoonctl vm rm --force "racer$try" >/dev/null
        if [ "$(echo "$out" | json_get 'd.get("error", "")')" = io.cocoon.Snapshot.InvalidState ]; then
                assert_contains "$(echo "$out" | json_get 'd["parameters"]["message"]')" "a clone is reading" \
                        "its message"
                assert_eq "race$try" "$(cocoonctl snapshot inspect "race$try" | json_get 'd["name"]')" \
                        "the snapshot after the refused delete"
                cocoonctl snapshot rm "race$try" >/dev/null
                refused=1
                break
        fi
        # Not refused: the clone had read the snapshot, which is gone now (the reply names it).
        assert_eq "" "$(echo "$out" | json_get 'd.get("error", "")')" "a delete after the clone's read (try $try)"
        [ -n "$(echo "$out" | json_get 'd["parameters"]["id"]')" ] || fail "the delete's reply names no id"
done
if [ "$refused" = 1 ]; then
        info "a delete during a clone refused in try $try of 5"
else
        info "no try of 5 hit the clone's read: every delete came after it (a quiet host)"
fi

info "clone with other memory or fewer vCPUs: InvalidConfiguration naming the field, nothing left"
vms_before=$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)
out=$(varlink_raw_call io.cocoon.VM.Clone '{"snapshot":"s1","name":"big","memory":268435456}')
assert_eq io.cocoon.VM.InvalidConfiguration "$(echo "$out" | json_get 'd["error"]')" "other memory"
assert_eq memory "$(echo "$out" | json_get 'd["parameters"]["field"]')" "its field"
out=$(varlink_raw_call io.cocoon.VM.Clone '{"snapshot":"s1","name":"big","cpu":2}')
assert_eq cpu "$(echo "$out" | json_get 'd["parameters"]["field"]')" "clone with other cpu"
out=$(varlink_raw_call io.cocoon.VM.Clone '{"snapshot":"s1","name":"big","storage":1048576}')
assert_eq storage "$(echo "$out" | json_get 'd["parameters"]["field"]')" "clone with less storage"
out=$(varlink_raw_call io.cocoon.VM.Clone '{"snapshot":"nope"}')
assert_eq io.cocoon.VM.NoSuchSnapshot "$(echo "$out" | json_get 'd["error"]')" "clone of nothing"
assert_eq "$vms_before" "$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)" "VM directories"
assert_fails cocoonctl vm inspect big

info "list, inspect, references"
assert_eq "['s1']" "$(cocoonctl snapshot list --json | json_get '[s["name"] for s in d]')" "list"
assert_eq 1 "$(cocoonctl snapshot ls --vm src --json | json_get 'len(d)')" "list --vm src"
assert_eq "No snapshots found for VM idle0." "$(cocoonctl snapshot list --vm idle0)" "list --vm idle0"
table=$(cocoonctl snapshot list)
assert_contains "$table" "ID" "table header"
assert_contains "$table" "$snap" "table"
out=$(cocoonctl snapshot inspect "${snap:0:5}")
assert_eq first "$(echo "$out" | json_get 'd["description"]')" "inspect by prefix"
assert_eq 134217728 "$(echo "$out" | json_get 'd["config"]["memory"]')" "memory"
assert_fails cocoonctl snapshot inspect "${snap:0:2}"
out=$(varlink_raw_call io.cocoon.Snapshot.Inspect '{"ref":"nope"}')
assert_eq io.cocoon.Snapshot.NoSuchSnapshot "$(echo "$out" | json_get 'd["error"]')" "inspect of nothing"
out=$(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"src","name":"s1"}')
assert_eq io.cocoon.Snapshot.NameInUse "$(echo "$out" | json_get 'd["error"]')" "a second s1"
out=$(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"src","name":"../bad"}')
assert_eq io.cocoon.Snapshot.InvalidConfiguration "$(echo "$out" | json_get 'd["error"]')" "bad name"
assert_eq name "$(echo "$out" | json_get 'd["parameters"]["field"]')" "bad name's field"

info "a clone whose saved state does not load: the call fails and the clone leaves nothing"
broken=$(cocoonctl snapshot save src --name broken)
truncate -s "$(($(stat -c %s "$snapshots/$broken/vmstate") / 2))" "$snapshots/$broken/vmstate"
vms_before=$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)
units_before=$(systemctl list-units --all --plain --no-legend 'cocoon-vm@*' | wc -l)
assert_fails cocoonctl vm clone broken --name broken-clone
assert_fails cocoonctl vm inspect broken-clone
assert_eq "$vms_before" "$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)" "VM directories"
assert_eq "$units_before" "$(systemctl list-units --all --plain --no-legend 'cocoon-vm@*' | wc -l)" "VM units"
assert_eq "$broken" "$(cocoonctl snapshot rm broken)" "removal of the broken snapshot"

info "a snapshot whose memory file is gone: the clone is refused, naming the snapshot, and leaves nothing"
noram=$(cocoonctl snapshot save src --name noram)
rm "$snapshots/$noram/ram"
out=$(varlink_raw_call io.cocoon.VM.Clone '{"snapshot":"noram","name":"noram-clone"}')
assert_eq io.cocoon.VM.InvalidConfiguration "$(echo "$out" | json_get 'd["error"]')" "clone without ram"
assert_eq snapshot "$(echo "$out" | json_get 'd["parameters"]["field"]')" "its field"
assert_contains "$(echo "$out" | json_get 'd["parameters"]["message"]')" "memory file" "its message"
assert_fails cocoonctl vm inspect noram-clone
assert_eq "$vms_before" "$(find /var/lib/cocoon/vms -mindepth 1 -maxdepth 1 | wc -l)" "VM directories"
cocoonctl snapshot rm noram >/dev/null
assert_eq running "$(vm_field src 'd["state"]')" "source state"

info "save of a VM that is not running: InvalidState, nothing left"
cocoonctl vm create guest --name idle --memory 128M --storage 64M >/dev/null
out=$(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"idle","name":"s2"}')
assert_eq io.cocoon.Snapshot.InvalidState "$(echo "$out" | json_get 'd["error"]')" "save of a created VM"
assert_eq created "$(echo "$out" | json_get 'd["parameters"]["state"]')" "its state"
assert_eq 1 "$(find "$snapshots" -mindepth 1 -maxdepth 1 | wc -l)" "snapshot directories"

info "delete: gone from the store and from the source's snapshotIds"
assert_eq "$snap" "$(cocoonctl snapshot rm s1)" "deleted id"
assert_eq "[]" "$(vm_field src 'd.get("snapshotIds") or []')" "source's snapshotIds after delete"
[ ! -e "$snapshots/$snap" ] || fail "the deleted snapshot's directory is still there"
assert_eq "No snapshots found." "$(cocoonctl snapshot list)" "list after delete"

info "the clone of the deleted snapshot runs on: its mapping keeps the memory file's pages"
at_delete=$(last_tick "$clone")
wait_for 30 ticks_past "$clone" "$((at_delete + 2))"
assert_contains "$(cat "/proc/$(qemu_pid "$clone")/maps")" "$snapshots/$snap/ram (deleted)" "the clone's mapping"

info "a manager killed during a save: nothing listed, the source runs, gc removes the rest"
# Surely mid-save: the source's QEMU is stopped (SIGSTOP) before the call, so the save, registered pending
# at once, cannot get past its first QMP exchange; the manager dies there, and QEMU goes on after it.
src_pid=$(qemu_pid "$src")
kill -STOP "$src_pid"
(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"src","name":"cut"}' >/dev/null 2>&1 || true) &
saver=$!
wait_for 30 sh -c "ls $snapshots/*/pending.json"
kill -9 "$(manager_pid)"
kill -CONT "$src_pid"
wait "$saver"
out=$(varlink_raw_call io.cocoon.Snapshot.List '{}')
assert_eq 0 "$(echo "$out" | json_get 'len(d["parameters"]["snapshots"])')" "list after the kill"
assert_fails cocoonctl snapshot inspect cut
assert_eq 1 "$(find "$snapshots" -mindepth 1 -maxdepth 1 | wc -l)" "the interrupted save's directory, for gc"
assert_eq running "$(vm_field src 'd["state"]')" "source state after the kill"
assert_eq "$src_pid" "$(qemu_pid "$src")" "the source's QEMU after the kill"
at_kill=$(last_tick "$src")
wait_for 30 ticks_past "$src" "$((at_kill + 2))"
cut_dir=$(find "$snapshots" -mindepth 1 -maxdepth 1)
out=$(cocoonctl gc --json)
assert_contains "$out" "$(basename "$cut_dir")" "gc's report of the interrupted save"
assert_eq 0 "$(find "$snapshots" -mindepth 1 -maxdepth 1 | wc -l)" "snapshot directories after gc"
# The name of the interrupted save is free again.
out=$(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"src","name":"cut"}')
assert_eq cut "$(echo "$out" | json_get 'd["parameters"]["snapshot"]["name"]')" "a save after gc"

info "a manager killed during a clone: after the restart and gc, the clone is whole or gone"
(cocoonctl vm clone cut --name halfclone >/dev/null 2>&1 || true) &
cloner=$!
# A quick clone may be done before a poll sees it listed: then the kill finds it whole.
clone_listed_or_done() { clone_listed || cocoonctl vm inspect halfclone >/dev/null 2>&1; }
wait_for 30 clone_listed_or_done
half=$(vm_field halfclone 'd["id"]')
kill -9 "$(manager_pid)"
wait "$cloner"
cocoonctl gc >/dev/null
if cocoonctl vm inspect halfclone >/dev/null 2>&1; then
        info "the clone was kept: it must run"
        assert_eq running "$(vm_field halfclone 'd["state"]')" "the kept clone's state"
        assert_eq active "$(systemctl is-active "$(vm_field halfclone 'd["unit"]')")" "the kept clone's unit"
        cocoonctl vm rm --force halfclone >/dev/null
else
        assert_eq "" "$(systemctl list-units --all --plain --no-legend "cocoon-vm@$half*")" "the cut clone's units"
        [ ! -e "/var/lib/cocoon/vms/$half" ] || fail "the cut clone's directory is left after gc"
        [ ! -e "/run/cocoon/vms/$half" ] || fail "the cut clone's run directory is left after gc"
fi
assert_eq running "$(vm_field src 'd["state"]')" "source state after the killed clone"

info "a hypervisor that dies takes the guest's memory file with it"
systemctl kill -s KILL "cocoon-vm@$src.service"
wait_for 30 sh -c "[ ! -e /run/cocoon/vms/$src/ram ]"

info "a snapshot keeps its image blobs: with its VM and image gone and gc run, it still clones"
cocoonctl vm rm --force src idle idle0 "$clone" >/dev/null
cocoonctl image rm guest >/dev/null
cocoonctl gc >/dev/null
last=$(cocoonctl vm clone cut --name last)
wait_for 60 ticks_past "$last" 0
cocoonctl vm rm --force last >/dev/null
cocoonctl snapshot rm cut >/dev/null
echo "PASS"

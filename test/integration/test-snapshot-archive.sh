#!/usr/bin/env bash
# test-snapshot-archive.sh: snapshot export and import of a real guest that counts on its console: save ->
# export (to a file, atomically) -> delete -> import -> clone, and the clone counts on; export | import
# through a pipe; hostile archives (built with python3's tarfile) refused with InvalidArchive and their
# message, leaving no snapshot directory and no pending entry, the running VM untouched; a manager killed
# during an import lists nothing after the restart and gc removes the leftover. Export and Import are listed
# by io.cocoon.Manager.ListOperations while they run, with their progress; VM.List answers during an import.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

snapshots=/var/lib/cocoon/snapshots
work=$(mktemp -d /var/tmp/test-snapshot-archive.XXXXXX)
manager_pid() { systemctl show -p MainPID --value cocoon-manager.service; }

json_get() {
        python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

last_tick() {
        grep -a -o 'COCOON-TICK [0-9]*' "/var/log/cocoon/vms/$1/console.log" | tail -n 1 | cut -d ' ' -f 2
}

ticks_past() {
        local t
        t=$(last_tick "$1")
        [ -n "$t" ] && [ "$t" -gt "$2" ]
}

snapshot_dirs() {
        find "$snapshots" -mindepth 1 -maxdepth 1 | wc -l
}

info "the manager serves Export and Import"
assert_contains "$(cocoonctl introspect io.cocoon.Snapshot)" "method Export(" "introspect Export"
assert_contains "$(cocoonctl introspect io.cocoon.Snapshot)" "error InvalidArchive (" "introspect InvalidArchive"

info "a guest that counts, and a snapshot of it"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null
src=$(cocoonctl vm run guest --name src --memory 128M --storage 64M --append cocoon.tick=1)
wait_for 120 ticks_past "$src" 2
out=$(varlink_raw_call io.cocoon.Snapshot.Save '{"vm":"src","name":"s0"}' '"more":true')
assert_contains "$out" '"continues":true' "Save with more: progress replies"
assert_contains "$(head -n 1 <<<"$out")" '"bytesDone":' "the first progress reply"
assert_contains "$(tail -n 2 <<<"$out")" '"name":"s0"' "Save with more: the final reply"
cocoonctl snapshot rm s0 >/dev/null
snap=$(cocoonctl snapshot save src --name s1)
at_save=$(last_tick "$src")

info "export to a file: complete, snapshot.json first, the sparse COW disk as a sparse entry, no temp file"
cocoonctl snapshot export s1 -o "$work/s1.tar"
cocoonctl snapshot export s1 -o "$work/s1.tar.zst" --compress zstd
cocoonctl snapshot export s1 --compress gzip >"$work/s1.tar.gz"
assert_eq 3 "$(find "$work" -mindepth 1 | wc -l)" "files in the output directory (no temporary left)"
names=$(python3 -c "import tarfile,sys; print(' '.join(tarfile.open(sys.argv[1]).getnames()))" "$work/s1.tar")
# The source booted with its RAM in a file (memoryFormat file): the snapshot's ram comes with it.
assert_eq "snapshot.json vmstate ram cow.raw" "$names" "archive entries"
python3 -c "import tarfile,sys; tarfile.open(sys.argv[1], 'r:gz').getnames()" "$work/s1.tar.gz" ||
        fail "the gzip export is no gzip tar"
cow_data=$(($(stat -c %b "$snapshots/$snap/cow.raw") * 512))
ram_data=$(($(stat -c %b "$snapshots/$snap/ram") * 512))
max=$(($(stat -c %s "$snapshots/$snap/vmstate") + cow_data + ram_data + (1 << 20)))
[ "$(stat -c %s "$work/s1.tar")" -le "$max" ] || fail "the 64M COW disk was not kept sparse"
assert_fails cocoonctl snapshot export nope -o "$work/nope.tar"
[ ! -e "$work/nope.tar" ] || fail "a failed export left its output file"
assert_eq 3 "$(find "$work" -mindepth 1 | wc -l)" "files after a failed export"

info "delete, import the file: the same id comes back, and a clone of it counts on"
cocoonctl snapshot rm s1 >/dev/null
[ ! -e "$snapshots/$snap" ] || fail "the deleted snapshot is still there"
assert_eq "$snap" "$(cocoonctl snapshot import "$work/s1.tar.zst")" "imported id"
[ ! -e "$snapshots/$snap/pending.json" ] || fail "the imported snapshot is still pending"
assert_eq s1 "$(cocoonctl snapshot inspect "$snap" | json_get 'd["name"]')" "imported name"
clone=$(cocoonctl vm clone s1 --name c1)
wait_for 60 ticks_past "$clone" "$((at_save + 1))"
first=$(grep -a -o 'COCOON-TICK [0-9]*' "/var/log/cocoon/vms/$clone/console.log" | head -n 1 | cut -d ' ' -f 2)
[ "$first" -le "$((at_save + 1))" ] || fail "the clone's first tick $first is past the snapshot ($at_save)"
cocoonctl vm rm --force c1 >/dev/null

info "an export to a reader that does not read yet is listed by ListOperations, with progress"
# The pipe and the socket fill; the manager's worker waits for the reader meanwhile.
go=$work/go
(cocoonctl snapshot export s1 -o - | { while [ ! -e "$go" ]; do sleep 0.1; done; wc -c; }) >"$work/n" &
exporter=$!
export_listed() { [ "$(ops_json '[o["method"] for o in ops]')" = "['io.cocoon.Snapshot.Export']" ]; }
wait_for 30 export_listed
assert_eq s1 "$(ops_json 'ops[0]["snapshot"]')" "the exported snapshot"
assert_eq False "$(ops_json 'ops[0]["detached"]')" "the export's caller is there"
# bytesTotal: the payload's data bytes (what the archive carries beside its headers and holes).
total=$(ops_json 'ops[0]["bytesTotal"]')
[ "$total" -gt 0 ] || fail "the export lists no bytesTotal"
[ "$(ops_json 'ops[0]["bytesDone"]')" -lt "$total" ] || fail "the export is not mid-way"
touch "$go"
wait "$exporter"
[ "$(cat "$work/n")" -gt "$total" ] || fail "the slow export is incomplete"
rm -f "$work/n" "$go"
wait_for 10 ops_count_is 0

info "export | import through a pipe: a second copy, under a new id and the name asked for"
copy=$(cocoonctl snapshot export s1 -o - | cocoonctl snapshot import - --name s1-copy)
assert_ne "$snap" "$copy" "the copy's id (s1 keeps its own)"
assert_eq s1-copy "$(cocoonctl snapshot inspect "$copy" | json_get 'd["name"]')" "the copy's name"
cmp "$snapshots/$snap/cow.raw" "$snapshots/$copy/cow.raw" || fail "the copy's disk differs"
assert_eq "$(stat -c %s "$snapshots/$snap/cow.raw")" "$(stat -c %s "$snapshots/$copy/cow.raw")" "disk size"
progress=$(varlink_raw_call io.cocoon.Snapshot.Import '{"name":"x"}' '"more":true' || true)
assert_contains "$progress" io.cocoon.Snapshot.InvalidConfiguration "Import with neither fd nor upgrade"
cocoonctl snapshot rm s1-copy >/dev/null

info "an import under a taken name: NameInUse, nothing left"
before=$(snapshot_dirs)
out=$(cocoonctl snapshot import "$work/s1.tar" 2>&1 || true)
assert_contains "$out" "NameInUse" "second import of s1"
assert_eq "$before" "$(snapshot_dirs)" "snapshot directories after NameInUse"

info "hostile archives: InvalidArchive with what is wrong, nothing left, the VM untouched"
python3 - "$work" <<'EOF'
import io, json, sys, tarfile
work = sys.argv[1]
src = tarfile.open(f"{work}/s1.tar")
record = json.loads(src.extractfile("snapshot.json").read())
state = src.extractfile("vmstate").read(4096)

def entry(name, data=b"", kind=tarfile.REGTYPE, link="", size=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, link
    ti.size = len(data) if size is None else size
    return ti, data

def write(path, entries, header_only=False):
    with open(path, "wb") as f:
        for ti, data in entries:
            f.write(ti.tobuf(tarfile.PAX_FORMAT))
            if header_only and ti.size > len(data):
                return  # a declared size with no data behind it
            if data:
                f.write(data + b"\0" * (-len(data) % 512))
        f.write(b"\0" * 1024)

def rec(r):
    return entry("snapshot.json", json.dumps(r).encode())

good = rec(record)
newer = dict(record, formatVersion=99)
foreign = json.loads(json.dumps(record))
for d in foreign["vm"]["storageConfigs"]:
    if d.get("readOnly"):
        d["path"] = "/etc/shadow"
if "bootConfig" in foreign["vm"]:
    foreign["vm"]["bootConfig"]["kernelPath"] = "/etc/shadow"
cases = {
    "traversal": [good, entry("../../etc/cron.d/evil", b"x")],
    "symlink": [good, entry("vmstate", kind=tarfile.SYMTYPE, link="/etc/shadow")],
    "hardlink": [good, entry("vmstate", kind=tarfile.LNKTYPE, link="snapshot.json")],
    "duplicate": [good, entry("vmstate", state), entry("vmstate", state)],
    "not-first": [entry("vmstate", state), good],
    "missing-record": [entry("vmstate", state)],
    "version": [rec(newer), entry("vmstate", state)],
    "foreign-path": [rec(foreign), entry("vmstate", state)],
}
for name, entries in cases.items():
    write(f"{work}/{name}.tar", entries)
write(f"{work}/huge.tar", [good, entry("vmstate", b"", size=1 << 40)], header_only=True)
with open(f"{work}/not-a-tar.tar", "wb") as f:
    f.write(b"this is no archive\n" * 100)
with open(f"{work}/s1.tar", "rb") as f:
    whole = f.read()
with open(f"{work}/truncated.tar", "wb") as f:
    f.write(whole[: len(whole) * 2 // 3])
EOF

before=$(snapshot_dirs)
dirs_are() { [ "$(snapshot_dirs)" = "$1" ]; }
check_refused() { # FILE MESSAGE [stdin]
        local out
        if [ "${3:-}" = stdin ]; then
                out=$(cocoonctl snapshot import - --name hostile <"$work/$1.tar" 2>&1) &&
                        fail "$1 was imported"
        else
                out=$(cocoonctl snapshot import "$work/$1.tar" --name hostile 2>&1) && fail "$1 was imported"
        fi
        assert_contains "$out" "InvalidArchive" "$1: the error"
        assert_contains "$out" "$2" "$1: the message"
        # The record goes before the reply, the files in a worker right after it (import_finish()).
        wait_for 30 dirs_are "$before"
        assert_eq "$before" "$(snapshot_dirs)" "$1: snapshot directories"
        if ls "$snapshots"/*/pending.json >/dev/null 2>&1; then fail "$1: a pending entry is left"; fi
        assert_fails cocoonctl snapshot inspect hostile
}
check_refused not-a-tar "not a snapshot archive"
check_refused truncated "the archive is truncated or damaged"
check_refused traversal "entry '../../etc/cron.d/evil' has a path"
check_refused symlink "entry 'vmstate' is a symbolic link"
check_refused hardlink "entry 'vmstate' is a hard link"
check_refused duplicate "entry 'vmstate' appears twice"
check_refused not-first "snapshot.json must be the first entry"
check_refused missing-record "snapshot.json must be the first entry"
check_refused version "format version 99"
check_refused huge "entry 'vmstate' declares 1Ti"
check_refused foreign-path "names /etc/shadow outside"
check_refused traversal "has a path" stdin
check_refused truncated "truncated" stdin
assert_eq running "$(cocoonctl vm inspect src | json_get 'd["state"]')" "source state after the hostile imports"
at=$(last_tick "$src")
wait_for 30 ticks_past "$src" "$((at + 1))"

info "a manager killed during an import: nothing listed after the restart, gc removes the leftover"
mkfifo "$work/slow"
(head -c 300000 "$work/s1.tar"; sleep 20) >"$work/slow" &
feeder=$!
(cocoonctl snapshot import - --name cut <"$work/slow" >/dev/null 2>&1 || true) &
importer=$!
wait_for 30 sh -c "ls $snapshots/*/pending.json"
assert_eq "['io.cocoon.Snapshot.Import']" "$(ops_json '[o["method"] for o in ops]')" "operations mid-import"
assert_eq cut "$(ops_json 'ops[0]["snapshot"]')" "the name the import gives"
[ "$(ops_json 'ops[0]["bytesDone"]')" -gt 0 ] || fail "the import lists no progress"
# The manager answers while the import waits for its data (a worker reads; the loop never does): the
# longest of 10 io.cocoon.VM.List round trips, timed inside one process (no exec per call).
slowest=$(python3 - "$COCOON_SOCKET" <<'PY'
import socket, sys, time
worst = 0
for _ in range(10):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(b'{"method":"io.cocoon.VM.List","parameters":{}}\0')
    reply = b""
    while not reply.endswith(b"\0"):
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    assert b'"vms"' in reply, reply
    worst = max(worst, time.monotonic() - t0)
print(int(worst * 1000))
PY
)
info "the slowest VM.List during the import: $slowest ms"
# 50 ms is the target; the bound allows for this host's load (several test suites on 2 CPUs).
[ "$slowest" -lt 1000 ] || fail "VM.List took $slowest ms during an import"
kill -9 "$(manager_pid)"
wait "$importer"
kill "$feeder" 2>/dev/null || true
wait "$feeder" 2>/dev/null || true
out=$(varlink_raw_call io.cocoon.Snapshot.List '{}')
assert_eq "['s1']" "$(echo "$out" | json_get '[s["name"] for s in d["parameters"]["snapshots"]]')" \
        "list after the kill"
assert_eq running "$(cocoonctl vm inspect src | json_get 'd["state"]')" "source state after the kill"
cocoonctl gc >/dev/null
assert_eq 1 "$(snapshot_dirs)" "snapshot directories after gc"
assert_eq "$(cocoonctl snapshot import "$work/s1.tar" --name cut)" \
        "$(cocoonctl snapshot inspect cut | json_get 'd["id"]')" "the name of the cut import is free again"

cocoonctl vm rm --force src >/dev/null
cocoonctl snapshot rm s1 cut >/dev/null
rm -rf "$work"
echo "PASS"

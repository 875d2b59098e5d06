#!/usr/bin/env bash
# test-image-progress.sh: a long `image import`: progress on a terminal (one redrawn line on stderr) and
# nothing on a pipe; Import's progress replies when called with more and one reply without; the import in
# `cocoonctl ops` with its bytes; Ctrl-C cancels it in the manager, which leaves no blob, temporary file or
# record, and cocoonctl says so and exits 130 (issue 7, long operations).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BLOBS=/var/lib/cocoon/images/blobs
SRC=/var/lib/cocoon/test-src
out=$COCOON_BUILD_DIR/test-image-progress.out
rm -rf "$out"
mkdir -p "$out" "$SRC"
chmod 0755 "$SRC"

# big_file PATH SIZE: a sparse file of SIZE with random bytes first, so each has content of its own (a blob
# of its own) while it takes no disk space and the manager takes seconds to read and hash it.
big_file() {
        head -c 4096 /dev/urandom >"$1"
        truncate -s "$2" "$1"
        chmod 0644 "$1"
}

# blob_files: the blob store's entries (temporary files too), one per line, sorted.
blob_files() {
        find "$BLOBS" -mindepth 1 -maxdepth 1 -printf "%f\n" 2>/dev/null | sort
}

# import_listed NAME: an Import of NAME is in flight, with bytes copied and the total known.
import_listed() {
        [ "$(ops_json "[(o['method'], o.get('image'), o.get('bytesDone', 0) > 0, 'bytesTotal' in o)
                        for o in ops] == [('io.cocoon.Image.Import', '$1', True, True)]")" = True ]
}

# blobs_are LIST: the blob store holds exactly LIST (as blob_files prints it).
blobs_are() {
        [ "$(blob_files)" = "$1" ]
}

head -c 100000 /dev/urandom >"$SRC/small"
chmod 0644 "$SRC/small"
big_file "$SRC/big2g" 2G
big_file "$SRC/big64g" 64G

info "on a pipe: no progress, stderr stays empty"
cocoonctl image import small --kernel "$SRC/small" >"$out/small.id" 2>"$out/small.err"
assert_eq "" "$(cat "$out/small.err")" "stderr of an import on a pipe"

info "Import without more: one reply"
reply=$(varlink_raw_call io.cocoon.Image.Import "{\"name\":\"raw\",\"kernel\":\"$SRC/small\"}")
assert_eq 1 "$(printf '%s\n' "$reply" | grep -c .)" "replies to Import without more"
assert_contains "$reply" '"image":{' "reply to Import without more"
assert_not_contains "$reply" '"continues"' "reply to Import without more"

info "Import with more: progress replies, then the image"
cocoonctl call --more io.cocoon.Image.Import "{\"name\":\"more\",\"kernel\":\"$SRC/big2g\"}" >"$out/more.json"
python3 - "$out/more.json" <<'PY' || fail "replies to Import with more: $(head -c 2000 "$out/more.json")"
import json, sys
text = open(sys.argv[1]).read()
dec, replies, i = json.JSONDecoder(), [], 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    o, i = dec.raw_decode(text, i)
    replies.append(o)
progress, final = replies[:-1], replies[-1]
assert progress, "no progress reply"
assert all(p["bytesTotal"] == 2 << 30 for p in progress), progress
done = [p["bytesDone"] for p in progress]
assert done == sorted(done) and done[-1] <= 2 << 30, done
assert final["image"]["name"] == "more" and final["image"]["size"] == 2 << 30, final
PY
cocoonctl image rm more >/dev/null

info "on a terminal: one redrawn progress line on stderr"
script -qec "cocoonctl image import tty --kernel $SRC/big2g" /dev/null >"$out/tty.out" </dev/null
assert_contains "$(cat "$out/tty.out")" $'\r\e[KImporting tty: ' "progress line on a terminal"
assert_contains "$(cat "$out/tty.out")" "%)" "progress line with the share done"
cocoonctl image inspect tty >/dev/null
cocoonctl image rm tty >/dev/null

info "an import in flight is listed with its progress; Ctrl-C cancels it"
before=$(blob_files)
cocoonctl image import huge --kernel "$SRC/big64g" >"$out/huge.out" 2>"$out/huge.err" &
import_pid=$!
wait_for 30 import_listed huge
kill -INT "$import_pid"
rc=0
wait "$import_pid" || rc=$?
assert_eq 130 "$rc" "exit code of an interrupted import"
assert_contains "$(cat "$out/huge.err")" "import cancelled" "stderr of an interrupted import"
assert_eq "" "$(cat "$out/huge.out")" "stdout of an interrupted import"

info "the manager cancelled it: no operation, no record, no blob, no temporary file"
wait_for 10 ops_count_is 0
assert_fails cocoonctl image inspect huge 2>/dev/null
wait_for 10 blobs_are "$before"
assert_eq "" "$(find /var/lib/cocoon/images -maxdepth 1 -name '*huge*')" "records of the cancelled import"
journalctl --sync 2>/dev/null || true
journalctl --no-pager -o cat -u cocoon-manager.service | grep -q "Import of image huge cancelled" \
        || fail "the manager did not log the cancel"

info "the name is free again: the same import runs to the end"
cocoonctl image import huge --kernel "$SRC/small" >/dev/null
cocoonctl image rm huge small raw >/dev/null
info "ok"

#!/usr/bin/env bash
# test-journal.sh: every VM operation is one journal entry with COCOON_VM_ID=, COCOON_VM_NAME=,
# COCOON_OPERATION= and COCOON_RESULT=, so `journalctl COCOON_VM_NAME=X` tells the VM's history.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null

info "run, stop and rm a VM named jlog"
id=$(cocoonctl vm run guest --name jlog --memory 256M --storage 64M)
cocoonctl vm stop --force jlog >/dev/null
cocoonctl vm rm jlog >/dev/null
journalctl --sync 2>/dev/null || true

history=$(journalctl COCOON_VM_NAME=jlog -o cat)
for op in create start stop delete; do
        assert_contains "$history" "): $op done." "journal entry for $op"
done
assert_eq 4 "$(journalctl COCOON_VM_NAME=jlog -o cat | grep -c 'done\.$')" "one entry per operation"

fields=$(journalctl COCOON_VM_NAME=jlog COCOON_OPERATION=delete -o json | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print(e["COCOON_VM_ID"], e["COCOON_OPERATION"], e["COCOON_RESULT"])')
assert_eq "$id delete success" "$fields" "COCOON_VM_ID, COCOON_OPERATION and COCOON_RESULT in -o json"
assert_eq 4 "$(journalctl COCOON_VM_ID="$id" COCOON_RESULT=success -o cat | wc -l)" "results by VM id"

info "journal entries for jlog: ok"

#!/usr/bin/env bash
# test-logs-readers.sh: clients that ask for the console log (`vm logs`, with and without --follow) and
# then never read hold no worker thread: create, start and stop --force of another VM still complete.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
N_READERS=10

# A small pool, the same on every host: ten stalled readers are far more than its threads.
printf '[Manager]\nPoolSize=2\n' >/etc/cocoon/cocoon.conf

# stalled_reader REF FOLLOW: sends io.cocoon.VM.Console (replay, read-only) like `vm logs [--follow]`,
# then never reads a byte. Its receive buffer is small, so the manager's writes stall at once.
stalled_reader() {
        python3 - "$COCOON_SOCKET" "$1" "$2" <<'EOF' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
call = {"method": "io.cocoon.VM.Console", "upgrade": True,
        "parameters": {"ref": sys.argv[2], "readOnly": True, "replay": True, "follow": sys.argv[3] == "1"}}
s.sendall(json.dumps(call).encode() + b"\0")
time.sleep(600)
EOF
        readers+=($!)
}
readers=()
cleanup() {
        local pid
        for pid in "${readers[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
}
trap cleanup EXIT

info "a running VM with a console log far bigger than any socket buffer"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm run guest --name chatty --memory 128M --storage 64M)
# The older generation: the relay appends to console.log, this one is only read.
head -c 20000000 /dev/urandom | base64 -w 100 >"/var/log/cocoon/vms/$id/console.log.1"

info "$N_READERS readers of vm logs and $N_READERS of vm logs --follow that never read"
for _ in $(seq "$N_READERS"); do
        stalled_reader chatty 0
        stalled_reader chatty 1
done
# Every reader is connected (the manager's ends of the connections carry the socket's path).
connected() { [ "$(ss -x 2>/dev/null | grep -c "$COCOON_SOCKET")" -ge $((2 * N_READERS)) ]; }
wait_for 30 connected

info "create, start and stop --force of another VM complete while the readers stall"
timeout 60 cocoonctl vm create guest --name other --memory 128M --storage 64M >/dev/null ||
        fail "vm create did not complete"
timeout 60 cocoonctl vm start other >/dev/null || fail "vm start did not complete"
assert_eq active "$(unit_property "cocoon-vm@$(cocoonctl vm inspect other |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])').service" ActiveState)" "unit of other"
timeout 60 cocoonctl vm stop --force other >/dev/null || fail "vm stop --force did not complete"
timeout 60 cocoonctl vm stop --force chatty >/dev/null || fail "vm stop --force of the logged VM did not complete"
assert_contains "$(cocoonctl vm list)" "stopped" "vm list"

info "a reader that does read gets the whole log"
expected=$(cat "/var/log/cocoon/vms/$id/console.log.1" "/var/log/cocoon/vms/$id/console.log" | sha256sum)
assert_eq "$expected" "$(timeout 60 cocoonctl vm logs chatty | sha256sum)" "vm logs of a stopped VM"

info "vm logs -n: the last lines of both files, as tail -n of them, without sending the log whole"
for n in 1 1000; do
        expected=$(cat "/var/log/cocoon/vms/$id/console.log.1" "/var/log/cocoon/vms/$id/console.log" |
                tail -n "$n" | sha256sum)
        assert_eq "$expected" "$(timeout 60 cocoonctl vm logs chatty -n "$n" | sha256sum)" "vm logs -n $n"
done

cocoonctl vm rm chatty other >/dev/null
info "ok"

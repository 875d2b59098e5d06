#!/usr/bin/env bash
# test-shutdown.sh: SIGTERM while operations are queued on one VM: every client gets its answer (a result or
# the declared io.cocoon.ShuttingDown), none hangs, the manager exits and the next one serves the VM.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
UNIT=cocoon-manager.service
out=$COCOON_BUILD_DIR/test-shutdown.out
rm -rf "$out"
mkdir -p "$out"

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

# call NAME METHOD PARAMS: one raw Varlink call in the background; the reply (or nothing) lands in
# $out/NAME. socat waits up to 120 s for it: a client that got nothing by then hung.
call() {
        printf '{"method":"%s","parameters":%s}\0' "$2" "$3" |
                socat -t 120 - "UNIX-CONNECT:$COCOON_SOCKET" | tr '\0' '\n' >"$out/$1" &
}

# watch NAME: an io.cocoon.VM.Watch call that reads every message until the connection ends.
watch() {
        python3 - "$COCOON_SOCKET" >"$out/$1" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(120)
s.connect(sys.argv[1])
s.sendall(b'{"method":"io.cocoon.VM.Watch","parameters":{},"more":true}\0')
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    sys.stdout.write(chunk.replace(b"\0", b"\n").decode())
    sys.stdout.flush()
EOF
}

info "a VM to queue operations on"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null
id=$(cocoonctl vm create guest --name burst --memory 128M --storage 64M)

# Each start or stop takes a while (a unit, QEMU's sockets): SIGTERM comes while most are still queued.
info "start, stop, start, ... from eight clients, a create from a ninth; then SIGTERM"
clients=()
for i in 1 2 3 4; do
        call "start$i" io.cocoon.VM.Start '{"refs":["burst"]}'
        call "stop$i" io.cocoon.VM.Stop '{"refs":["burst"],"force":true}'
        clients+=("start$i" "stop$i")
done
call create io.cocoon.VM.Create '{"image":"guest","name":"late","memory":134217728,"storage":67108864}'
clients+=(create)
watch watch
# The Watch is being served (its first message came) before SIGTERM: a client still connecting would be
# accepted by the next manager instead.
wait_for 30 test -s "$out/watch"
# The first start got its unit: the other operations on the VM wait behind it.
wait_for 30 unit_property_is "cocoon-vm@$id.service" ActiveState active
manager_pid=$(unit_property "$UNIT" MainPID)
systemctl kill --signal=SIGTERM "$UNIT"

info "every client gets an answer"
wait
for c in "${clients[@]}"; do
        reply=$(cat "$out/$c")
        [ -n "$reply" ] || fail "client $c got no reply"
        info "$c: $reply"
        # A reply, or an error of the API (per reference in results, or for the whole call).
        case $reply in
        '{"parameters":'* | *'"error":"io.cocoon.'*) ;;
        *) fail "client $c: not a declared answer: $reply" ;;
        esac
done
info "a Watch call ends with io.cocoon.ShuttingDown, not a bare hangup"
assert_contains "$(tail -n 1 "$out/watch")" '"error":"io.cocoon.ShuttingDown"' "last message of the Watch"
rm -f "$out/watch"
shutting_down=$(cat "$out"/* | grep -c 'io.cocoon.ShuttingDown' || true)
info "$shutting_down answer(s) were io.cocoon.ShuttingDown"
[ "$shutting_down" -gt 0 ] || fail "every operation finished before SIGTERM: the test did not test the shutdown"

info "the manager exited by itself, cleanly"
wait_for 30 sh -c "! kill -0 $manager_pid 2>/dev/null"
assert_eq success "$(unit_property "$UNIT" Result)" "manager unit Result"
journalctl -u "$UNIT" --no-pager | grep -q "Every operation is answered; exiting." ||
        fail "the manager did not log its clean exit"

info "the next manager serves the VM; a create that was refused left no placeholder"
state=$(vm_state burst)
case $state in
running | created | stopped) ;;
*) fail "state of burst after the shutdown: $state" ;;
esac
if grep -q 'ShuttingDown' "$out/create"; then
        assert_not_contains "$(cocoonctl vm list)" "late" "vm list after a refused create"
fi
if [ "$state" = running ]; then
        assert_eq active "$(unit_property "cocoon-vm@$id.service" ActiveState)" "unit of a running VM"
fi
cocoonctl vm rm --force burst >/dev/null
cocoonctl vm rm --force late >/dev/null 2>&1 || true

info "ok"

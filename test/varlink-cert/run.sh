#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Certifies our Varlink layer against a third-party implementation (varlink-go-certification from Debian's
# varlink-go) in both directions: their client against our cert-server, our cert-client against their
# server. Prints the peer's output; exits non-zero on any failure.
# Usage: run.sh CERT-SERVER CERT-CLIENT
set -u

server_bin=${1:?usage: run.sh CERT-SERVER CERT-CLIENT}
client_bin=${2:?usage: run.sh CERT-SERVER CERT-CLIENT}
peer=${VARLINK_CERT_PEER:-varlink-go-certification}

if ! command -v "$peer" >/dev/null; then
        echo "run.sh: $peer not found (Debian package varlink-go, installed by tools/setup)" >&2
        exit 1
fi

dir=$(mktemp -d /tmp/varlink-cert.XXXXXX)
pids=()
cleanup() {
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        rm -rf "$dir"
}
trap cleanup EXIT

wait_for_socket() {
        for _ in $(seq 1 100); do
                [ -S "$1" ] && return 0
                sleep 0.1
        done
        echo "run.sh: $1 did not appear" >&2
        return 1
}

failed=0

echo "=== 1. $peer --client against our cert-server"
"$server_bin" "$dir/ours.sock" 2>"$dir/server.log" &
server_pid=$!
pids+=("$server_pid")
if wait_for_socket "$dir/ours.sock"; then
        timeout 60 "$peer" --client --varlink="unix:$dir/ours.sock" >"$dir/peer-client.log" 2>&1
        peer_rc=$?
        sed 's/^/peer: /' "$dir/peer-client.log"
else
        peer_rc=1
fi
# Our server exits by itself right after End; if the peer stopped early, do not wait for its watchdog.
for _ in $(seq 1 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
done
kill "$server_pid" 2>/dev/null
wait "$server_pid"
server_rc=$?
pids=()
sed 's/^/ours: /' "$dir/server.log"
# The Go client prints "<step>() failed" and returns 0 on failure: judge by its last line and by what our
# server saw (it exits 0 only when every call carried the right values, Test11 came oneway, End was reached).
if [ "$peer_rc" -ne 0 ] || ! grep -qx "End: 'true'" "$dir/peer-client.log" ||
   grep -q "failed" "$dir/peer-client.log" || [ "$server_rc" -ne 0 ]; then
        echo "=== FAILED: peer client rc=$peer_rc, our server rc=$server_rc"
        failed=1
else
        echo "=== passed"
fi

echo "=== 2. our cert-client against $peer (server)"
"$peer" --varlink="unix:$dir/theirs.sock" >"$dir/peer-server.log" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")
if wait_for_socket "$dir/theirs.sock"; then
        timeout 60 "$client_bin" "unix:$dir/theirs.sock" 2>&1 | sed 's/^/ours: /'
        client_rc=${PIPESTATUS[0]}
else
        client_rc=1
fi
kill "$peer_pid" 2>/dev/null
wait "$peer_pid" 2>/dev/null
pids=()
sed 's/^/peer: /' "$dir/peer-server.log"
if [ "$client_rc" -ne 0 ]; then
        echo "=== FAILED: our client rc=$client_rc"
        failed=1
else
        echo "=== passed"
fi

exit "$failed"

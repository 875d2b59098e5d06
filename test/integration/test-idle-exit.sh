#!/usr/bin/env bash
# test-idle-exit.sh: cocoon-manager --exit-idle-sec: it exits when nothing is left to do, but not while a
# `vm logs` reader is still taking the console log (after the upgrade that connection is no longer a Varlink
# connection; the job sending the log holds the manager), and socket activation brings it back.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=/var/lib/cocoon/test-src
IDLE_SEC=2
UNIT=cocoon-manager.service

info "the manager runs with --exit-idle-sec=$IDLE_SEC"
mkdir -p "/run/systemd/system/$UNIT.d"
printf '[Service]\nExecStart=\nExecStart=%s --exit-idle-sec=%s\n' "$(command -v cocoon-manager)" "$IDLE_SEC" \
        >"/run/systemd/system/$UNIT.d/60-idle.conf"
systemctl daemon-reload
systemctl stop "$UNIT" 2>/dev/null

info "idle: it exits on its own, and the next call starts it again"
cocoonctl status >/dev/null
wait_for_property 30 "$UNIT" ActiveState inactive
cocoonctl status >/dev/null
assert_eq active "$(unit_property "$UNIT" ActiveState)" "state after a call"

info "a slow vm logs reader gets the whole log; the manager waits for it, then exits"
mkdir -p "$SRC"
head -c 100000 /dev/urandom >"$SRC/vmlinuz"
cocoonctl image import k --kernel "$SRC/vmlinuz" >/dev/null
id=$(cocoonctl vm create k --name quiet | tail -n 1)
log=/var/log/cocoon/vms/$id/console.log
# Far more than the socket buffers hold: the manager is still writing while the reader sleeps.
head -c 20000000 /dev/urandom | base64 -w 100 >"$log"
# The reader sleeps for longer than the idle timeout before it takes a byte.
got=$(cocoonctl vm logs quiet | (sleep $((IDLE_SEC * 3)); cat) | sha256sum)
assert_eq "$(sha256sum <"$log")" "$got" "the log through vm logs"
wait_for_property 30 "$UNIT" ActiveState inactive

info "ok"

#!/usr/bin/env bash
# test-manager-restart.sh: a manager that crashes again and again comes back every time: no start limit
# leaves the service (and its socket) failed until someone runs reset-failed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

info "the manager runs (socket activation)"
cocoonctl status >/dev/null
wait_for_property 10 cocoon-manager.service ActiveState active

# new_main_pid OLD: succeeds once the service runs again with a main process other than OLD.
new_main_pid() {
        local pid

        pid=$(unit_property cocoon-manager.service MainPID)
        [ "$pid" != 0 ] && [ "$pid" != "$1" ] && unit_property_is cocoon-manager.service ActiveState active
}

info "kill -9 the manager 8 times in a row: systemd restarts it each time"
for i in 1 2 3 4 5 6 7 8; do
        pid=$(unit_property cocoon-manager.service MainPID)
        [ "$pid" != 0 ] || fail "no manager process before kill $i"
        kill -9 "$pid"
        (wait_for 15 new_main_pid "$pid") ||
                fail "the manager did not come back after kill $i: $(systemctl status --no-pager \
                        cocoon-manager.service cocoon-manager.socket 2>&1 |
                        grep -E 'Active:|start-limit' || true)"
done
assert_eq 8 "$(unit_property cocoon-manager.service NRestarts)" "NRestarts after 8 kills"

info "the API still answers, and the socket never failed"
assert_contains "$(cocoonctl status)" "cocoon-manager " "status after the kills"
assert_eq active "$(unit_property cocoon-manager.socket ActiveState)" "socket state"
info "ok"

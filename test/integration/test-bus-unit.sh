#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the bus-unit tests against the sandbox's systemd (run it inside tools/sandbox). Here a skip is a
# failure: it means the sandbox has no systemd PID 1 with a system bus. Outside a sandbox (no
# COCOON_SANDBOX=1, or a systemd that is not the sandbox's, as on a host whose PID 1 is systemd) the live
# part must skip.
set -euo pipefail

: "${COCOON_BUILD_DIR:?run this inside tools/sandbox (COCOON_BUILD_DIR is not set)}"
bin=$COCOON_BUILD_DIR/test/test-bus-unit
if [ ! -x "$bin" ]; then
        echo "test-bus-unit.sh: '$bin' is missing; build first" >&2
        exit 1
fi

# pid1_mentions: how many of PID 1's journal lines name one of the test's units (cocoon-test.slice and the
# units in it): a unit created and collected again still leaves its "Started ..." line.
pid1_mentions() {
        journalctl --no-pager -q -o cat _PID=1 | grep -c cocoon-test || true
}

# expect_skip WHAT COMMAND...: the live part does not run (exit 77, PID 1 never hears of a test unit).
expect_skip() {
        local rc=0 what=$1 before

        shift
        before=$(pid1_mentions)
        "$@" >/dev/null 2>&1 || rc=$?
        if [ "$rc" -ne 77 ]; then
                echo "FAIL: test-bus-unit.sh: $what: expected the live tests to skip (77), got $rc" >&2
                exit 1
        fi
        if [ "$(pid1_mentions)" -ne "$before" ] || systemctl list-units --all --no-legend --plain |
                grep -q cocoon-test; then
                echo "FAIL: test-bus-unit.sh: $what: transient units were created" >&2
                exit 1
        fi
}

echo "-- a host's own systemd: without COCOON_SANDBOX=1 the live part skips"
expect_skip "without COCOON_SANDBOX" env -u COCOON_SANDBOX "$bin"
echo "-- COCOON_SANDBOX=1 alone is not enough: the systemd must be the sandbox's"
expect_skip "with another container marker" \
        unshare --mount --propagation private -- bash -c \
        'echo other >/tmp/container-marker && mount --bind /tmp/container-marker /run/systemd/container &&
         exec "$1"' _ "$bin"

echo "-- in the sandbox the live part runs"
rc=0
"$bin" || rc=$?
if [ "$rc" -eq 77 ]; then
        echo "test-bus-unit.sh: no systemd PID 1 with a system bus here, the unit tests were skipped" >&2
        exit 1
fi
if [ "$rc" -eq 0 ] && [ "$(pid1_mentions)" -eq 0 ]; then
        echo "FAIL: test-bus-unit.sh: the live tests passed without PID 1 ever naming a test unit" >&2
        exit 1
fi
exit "$rc"

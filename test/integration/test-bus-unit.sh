#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the bus-unit tests against the sandbox's systemd (run it inside tools/sandbox). Here a skip is a
# failure: it means the sandbox has no systemd PID 1 with a system bus.
set -euo pipefail

: "${COCOON_BUILD_DIR:?run this inside tools/sandbox (COCOON_BUILD_DIR is not set)}"
bin=$COCOON_BUILD_DIR/test/test-bus-unit
if [ ! -x "$bin" ]; then
        echo "test-bus-unit.sh: '$bin' is missing; build first" >&2
        exit 1
fi

rc=0
"$bin" || rc=$?
if [ "$rc" -eq 77 ]; then
        echo "test-bus-unit.sh: no systemd PID 1 with a system bus here, the unit tests were skipped" >&2
        exit 1
fi
exit "$rc"

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test/demo.sh: the demo tools/demo shows, run inside tools/sandbox: cocoon as seen from its CLI.
set -euo pipefail

if [ "${COCOON_SANDBOX:-}" != 1 ]; then
        echo "test/demo.sh: run it through tools/demo (it needs the sandbox's systemd)" >&2
        exit 1
fi

# step COMMAND...: show a command like a shell transcript, then run it.
step() {
        printf '\n$ %s\n' "$*"
        "$@"
}

echo "A private systemd is PID 1 here; cocoon-manager.socket listens on /run/cocoon/io.cocoon.Manager."
echo "The manager is socket-activated: it is $(systemctl is-active cocoon-manager.service) until the first" \
        "call."

step cocoonctl status
step cocoonctl vm list

printf '\nThe first call started the manager: cocoon-manager.service is %s.\n' \
        "$(systemctl is-active cocoon-manager.service)"

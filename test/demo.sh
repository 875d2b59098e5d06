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

# The test guest: a Debian kernel and a busybox initramfs, built by tools/demo outside the sandbox.
# shellcheck disable=SC1091
. "$COCOON_BUILD_DIR/guest/guest.env"
step cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE"
step cocoonctl vm run guest --name demo --memory 256M --storage 64M
id=$(cocoonctl vm inspect demo --json | sed -n 's/^  "id": "\(.*\)",$/\1/p')

printf '\nWaiting for the guest to print its ready line on the serial console...\n'
for _ in $(seq 1 600); do
        if cocoonctl vm logs demo | grep -q COCOON-GUEST-READY; then
                break
        fi
        sleep 0.2
done
step sh -c "cocoonctl vm logs demo | grep -a COCOON-"
step systemctl status --no-pager --lines=0 "cocoon-vm@$id.service"
step cocoonctl vm list
step cocoonctl vm stop demo
step sh -c "cocoonctl vm logs demo | grep -a -e POWERBUTTON -e 'Power down'"
step cocoonctl vm rm demo
step cocoonctl vm list

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-sandbox.sh: the harness itself: a private systemd as PID 1 with cocoon's units, group, directories and
# transient units in cocoon.slice. Does not need the manager to answer.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

info "PID 1 is systemd, booted and healthy"
assert_eq systemd "$(cat /proc/1/comm)" "PID 1 name"
assert_contains "$(readlink /proc/1/exe)" /systemd "PID 1 binary"
assert_eq running "$(systemctl is-system-running)" "system state"
assert_eq "" "$(systemctl list-units --failed --no-legend --plain)" "failed units"

info "the sandbox keeps to itself"
assert_contains "$(grep ':name=systemd:\|^0::' /proc/1/cgroup)" /cocoon-sandbox- "PID 1 cgroup"
assert_contains ",$(findmnt -n -o OPTIONS /)," ",ro," "root mount options"
assert_ne "5:1" "$(stat -L -c '%t:%T' /dev/console)" "/dev/console (must not be the host's console)"
assert_eq masked "$(unit_property systemd-tmpfiles-setup.service LoadState)" "systemd-tmpfiles-setup.service"

info "cocoon-manager.socket listens, the service is not started before the first call"
assert_eq active "$(unit_property cocoon-manager.socket ActiveState)" "socket ActiveState"
assert_eq listening "$(unit_property cocoon-manager.socket SubState)" "socket SubState"
assert_eq varlink "$(unit_property cocoon-manager.socket FileDescriptorName)" "socket FileDescriptorName"
[ -S "$COCOON_SOCKET" ] || fail "$COCOON_SOCKET is not a socket"
assert_eq "666 root root" "$(stat -c '%a %U %G' "$COCOON_SOCKET")" "socket mode"
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "service ActiveState"
assert_eq notify "$(unit_property cocoon-manager.service Type)" "service Type"
assert_contains "$(unit_property cocoon-manager.service ExecStart)" \
        "path=$COCOON_BUILD_DIR/src/cocoon-manager/cocoon-manager " "service ExecStart"
assert_eq "not-found" "$(unit_property cocoon-vm@anything.service LoadState)" \
        "cocoon-vm@.service (no unit file may exist for it)"

info "sysusers.d and tmpfiles.d were applied"
getent group cocoon >/dev/null || fail "group cocoon does not exist"
assert_eq "755 root root" "$(stat -c '%a %U %G' /run/cocoon)" "/run/cocoon"
assert_eq "700 root root" "$(stat -c '%a %U %G' /run/cocoon/vms)" "/run/cocoon/vms"
assert_eq "700 root root" "$(stat -c '%a %U %G' /var/lib/cocoon)" "/var/lib/cocoon"
assert_eq "700 root root" "$(stat -c '%a %U %G' /var/lib/cocoon/vms)" "/var/lib/cocoon/vms"
assert_eq "700 root root" "$(stat -c '%a %U %G' /var/log/cocoon)" "/var/log/cocoon"
assert_eq "700 root root" "$(stat -c '%a %U %G' /var/log/cocoon/vms)" "/var/log/cocoon/vms"

info "a transient cocoon-vm@ unit lands in cocoon.slice and can be stopped"
unit=cocoon-vm@sandboxtest.service
systemd-run --quiet --unit=cocoon-vm@sandboxtest --slice=cocoon.slice /bin/sleep 30
wait_for_property 10 "$unit" SubState running
assert_eq yes "$(unit_property "$unit" Transient)" "Transient"
assert_eq cocoon.slice "$(unit_property "$unit" Slice)" "Slice"
assert_contains "$(unit_property "$unit" ControlGroup)" "/cocoon.slice/$unit" "ControlGroup"
main_pid=$(unit_property "$unit" MainPID)
assert_ne 0 "$main_pid" "MainPID"
assert_contains "$(cat "/proc/$main_pid/cgroup")" "/cocoon.slice/$unit" "cgroup of the unit's process"
assert_eq /run/systemd/system/cocoon.slice "$(unit_property cocoon.slice FragmentPath)" "cocoon.slice file"
systemctl stop "$unit"
assert_eq inactive "$(unit_property "$unit" ActiveState)" "ActiveState after stop"
assert_fails kill -0 "$main_pid" 2>/dev/null

info "the command runs with default signal handling (SIGINT, SIGQUIT not ignored: Ctrl-C works)"
# assert_sig_not_ignored MASK LINE: fails if a bit of MASK is set in a /proc/PID/status SigIgn: line.
assert_sig_not_ignored() {
        local ign=${2##*[[:space:]]}

        [[ $ign =~ ^[0-9a-f]{16}$ ]] || fail "not a SigIgn line: '$2'"
        (((16#$ign & $1) == 0)) || fail "SigIgn $ign: SIGINT (0x2) or SIGQUIT (0x4) is ignored"
}
assert_sig_not_ignored 0x6 "$(grep '^SigIgn:' /proc/self/status)"

info "tools/sandbox started in a chroot finds its systemd (by the PID it started, not by the binary's path)"
# A chroot of this sandbox's own root (bind-mounted in a private mount namespace): inside it, the path of
# the nested systemd's binary that /proc shows carries the chroot's prefix.
chroot_dir=$(mktemp -d /tmp/chroot.XXXXXX)
out=$(timeout 120 unshare --mount --propagation private -- bash -c \
        'mount --rbind / "$1" && exec chroot "$1" env BUILD_DIR="$2" "$3/tools/sandbox" -- \
                bash -c "cat /proc/1/comm; systemctl is-system-running; echo \$COCOON_SANDBOX; \
                        grep ^SigIgn: /proc/self/status"' \
        _ "$chroot_dir" "$COCOON_BUILD_DIR" "$COCOON_SOURCE_DIR" 2>&1) ||
        fail "nested sandbox in a chroot: $out"
assert_eq "systemd running 1" "$(head -n 3 <<<"$out" | tr '\n' ' ' | sed 's/ $//')" \
        "PID 1, system state and COCOON_SANDBOX in the nested sandbox"
# The nested sandbox's command was started as this one's: a fresh check that does not depend on how
# tools/test started the outer one.
assert_sig_not_ignored 0x6 "$(sed -n 4p <<<"$out")"
rmdir "$chroot_dir"

echo "ok"

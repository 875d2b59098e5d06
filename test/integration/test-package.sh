#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-package.sh: the Debian package: dpkg-buildpackage builds cocoon_*.deb from a copy of the tree, its
# metadata, file list, maintainer scripts and lintian are checked, then it is installed with dpkg -i into
# this sandbox (over a throw-away layer on /usr) where systemd-analyze verify passes on its units and
# cocoonctl status answers through the packaged socket; dpkg -r and -P undo it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

for tool in dpkg-buildpackage dh lintian scdoc meson; do
        command -v "$tool" >/dev/null || fail "'$tool' is missing: run tools/setup"
done

# The sandbox's /var/tmp is a private tmpfs: nothing of the build reaches the source tree or the host.
work=$(mktemp -d /var/tmp/cocoon-package.XXXXXX)
export HOME=$work/home
mkdir -p "$HOME" "$work/src"

info "build the package from a copy of the source tree (tests off: nocheck)"
src=$COCOON_SOURCE_DIR
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked and new files, none of the ignored build directories; a tracked file deleted in the work
        # tree is listed but missing, hence --ignore-failed-read.
        git -C "$src" ls-files -z --cached --others --exclude-standard |
                (cd "$src" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
else
        tar -C "$src" --exclude='./build*' -cf - . | tar -xf - -C "$work/src"
fi
[ -f "$work/src/debian/rules" ] || fail "the copy of the source tree has no debian/rules"
version=$(dpkg-parsechangelog -l "$work/src/debian/changelog" -S Version)
if ! (cd "$work/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -Pnocheck) \
        >"$work/build.log" 2>&1; then
        tail -n 60 "$work/build.log" >&2
        fail "dpkg-buildpackage failed (last lines above)"
fi
deb=$work/cocoon_${version}_amd64.deb
[ -f "$deb" ] || fail "no $deb; built: $(cd "$work" && echo *.deb)"

info "metadata: name, version, dependencies"
assert_eq cocoon "$(dpkg-deb -f "$deb" Package)" "Package"
assert_eq "$version" "$(dpkg-deb -f "$deb" Version)" "Version"
depends=$(dpkg-deb -f "$deb" Depends)
# libcurl4 ... libgcrypt20 are dlopen()ed (dh_shlibdeps cannot see them): debian/control names them.
for dep in qemu-system-x86 e2fsprogs libcurl4 libarchive13 libext2fs2 libnl-3-200 libnl-route-3-200 libgcrypt20 \
        systemd libsystemd0 libjson-c5 libyajl2 libunistring2 dbus-system-bus; do
        assert_contains "$depends" "$dep" "Depends"
done

info "file list"
root=$work/root
dpkg-deb -x "$deb" "$root"
files=$(cd "$root" && find . ! -type d | sed 's|^\./||' | sort)
while IFS= read -r line; do
        echo "   $line"
done <<<"$files"
for f in usr/bin/cocoonctl usr/libexec/cocoon-manager usr/libexec/cocoon-vm-stop usr/libexec/cocoon-network \
        usr/libexec/cocoon-unpack \
        lib/systemd/system/cocoon-manager.service lib/systemd/system/cocoon-manager.socket \
        lib/systemd/system/cocoon-network.service lib/systemd/system/cocoon-network.socket \
        lib/systemd/system/cocoon.slice usr/lib/tmpfiles.d/cocoon.conf usr/lib/sysusers.d/cocoon.conf \
        usr/share/man/man1/cocoonctl.1.gz usr/share/man/man5/cocoon.conf.5.gz \
        usr/share/man/man7/cocoon-varlink.7.gz usr/share/man/man8/cocoon-manager.8.gz \
        usr/share/doc/cocoon/copyright \
        usr/share/bash-completion/completions/cocoonctl usr/share/zsh/vendor-completions/_cocoonctl; do
        grep -qx "$f" <<<"$files" || fail "the package lacks $f"
done
for f in usr/bin/cocoonctl usr/libexec/cocoon-manager usr/libexec/cocoon-vm-stop; do
        [ -x "$root/$f" ] || fail "$f is not executable"
done
assert_eq "ExecStart=/usr/libexec/cocoon-manager" \
        "$(grep '^ExecStart=' "$root/lib/systemd/system/cocoon-manager.service")" "packaged ExecStart"
# The man pages carry the build's paths, not the placeholders of their sources.
for page in "$root"/usr/share/man/man*/*.gz; do
        if zgrep -q '@[A-Z_]*@' "$page"; then
                fail "$page has an unsubstituted @PLACEHOLDER@"
        fi
done
assert_contains "$(zcat "$root/usr/share/man/man8/cocoon-manager.8.gz")" /var/lib/cocoon/lock "cocoon-manager(8)"

info "maintainer scripts: group, directories, the socket enabled; never the slice (it holds the VMs)"
dpkg-deb -e "$deb" "$work/control"
postinst=$(cat "$work/control/postinst")
assert_contains "$postinst" "systemd-sysusers" "postinst"
assert_contains "$postinst" "cocoon.conf" "postinst"
assert_contains "$postinst" "systemd-tmpfiles" "postinst"
assert_contains "$postinst" "deb-systemd-helper enable 'cocoon-manager.socket'" "postinst"
for script in postinst prerm postrm; do
        assert_not_contains "$(cat "$work/control/$script" 2>/dev/null || true)" cocoon.slice "$script"
done

info "lintian: no errors"
lintian_rc=0
lintian --fail-on error "$work"/cocoon_"${version}"_amd64.changes >"$work/lintian.txt" 2>&1 || lintian_rc=$?
while IFS= read -r line; do
        echo "   $line"
done <"$work/lintian.txt"
assert_eq 0 "$lintian_rc" "lintian status"

info "install with dpkg -i, in place of the build's units"
systemctl stop cocoon-manager.socket cocoon-manager.service cocoon-network.socket cocoon-network.service
rm -rf /run/systemd/system/cocoon-manager.socket /run/systemd/system/cocoon-manager.service \
        /run/systemd/system/cocoon-manager.service.d /run/systemd/system/cocoon.slice \
        /run/systemd/system/cocoon-network.socket /run/systemd/system/cocoon-network.service
systemctl daemon-reload
assert_eq not-found "$(unit_property cocoon-manager.socket LoadState)" "socket before dpkg -i"
# /usr is the host's, read-only: dpkg writes to an overlay whose upper layer is this sandbox's tmpfs. /etc and
# /var (dpkg's database) are overlays of the sandbox already.
mkdir -p /tmp/usr-upper /tmp/usr-work
mount -t overlay overlay -o lowerdir=/usr,upperdir=/tmp/usr-upper,workdir=/tmp/usr-work /usr
# Container images (Docker's Debian among them) ship a policy-rc.d that forbids starting services from
# maintainer scripts; a Debian host has none. Removed from the overlay only.
rm -f /usr/sbin/policy-rc.d
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || {
        cat "$work/dpkg-i.log" >&2
        fail "dpkg -i failed"
}
assert_eq "install ok installed" "$(dpkg-query -W -f '${Status}' cocoon)" "dpkg status"
assert_eq enabled "$(systemctl is-enabled cocoon-manager.socket)" "socket enabled"
assert_eq active "$(unit_property cocoon-manager.socket ActiveState)" "socket started by postinst"
assert_contains "$(unit_property cocoon-manager.socket FragmentPath)" lib/systemd/system/cocoon-manager.socket \
        "socket unit file"
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "service before the first call"
getent group cocoon >/dev/null || fail "group cocoon does not exist"
assert_eq "700 root root" "$(stat -c '%a %U %G' /var/lib/cocoon)" "/var/lib/cocoon"
man -w cocoon-manager >/dev/null || fail "man cannot find cocoon-manager(8)"
# Where each shell looks: bash-completion loads a command's completion by name, zsh searches its fpath.
assert_eq "complete -F _cocoonctl cocoonctl" "$(bash -c '. /usr/share/bash-completion/bash_completion &&
        __load_completion cocoonctl && complete -p cocoonctl')" "bash-completion loads cocoonctl's"
assert_eq /usr/share/zsh/vendor-completions/_cocoonctl "$(zsh -fc 'print -l -- ${^fpath}/_cocoonctl(N)')" \
        "zsh's fpath finds _cocoonctl"

info "systemd-analyze verify on every packaged unit (Documentation=, ExecStart= checked too)"
verify=$(systemd-analyze verify /lib/systemd/system/cocoon-manager.socket \
        /lib/systemd/system/cocoon-manager.service /lib/systemd/system/cocoon.slice \
        /lib/systemd/system/cocoon-network.socket /lib/systemd/system/cocoon-network.service 2>&1) ||
        fail "systemd-analyze verify failed: $verify"
assert_eq "" "$verify" "systemd-analyze verify output"

info "cocoonctl status answers through the packaged socket and manager"
status=$(/usr/bin/cocoonctl status)
assert_contains "$status" "cocoon-manager $version" "cocoonctl status"
assert_contains "$status" "State directory:   /var/lib/cocoon" "cocoonctl status"
wait_for_property 10 cocoon-manager.service ActiveState active
main_pid=$(unit_property cocoon-manager.service MainPID)
assert_eq /usr/libexec/cocoon-manager "$(readlink "/proc/$main_pid/exe")" "manager binary"

info "an upgrade (dpkg -i again) restarts the socket, and with it (Requires=) the running manager"
dpkg -i "$deb" >"$work/dpkg-upgrade.log" 2>&1 || {
        cat "$work/dpkg-upgrade.log" >&2
        fail "dpkg -i over the installed package failed"
}
assert_eq active "$(unit_property cocoon-manager.socket ActiveState)" "socket after the upgrade"
assert_contains "$(/usr/bin/cocoonctl status)" "cocoon-manager $version" "cocoonctl status after the upgrade"
assert_ne "$main_pid" "$(unit_property cocoon-manager.service MainPID)" "manager PID after the upgrade"

info "dpkg -r stops and disables the socket (and with it the manager), dpkg -P purges"
dpkg -r cocoon >"$work/dpkg-r.log" 2>&1 || {
        cat "$work/dpkg-r.log" >&2
        fail "dpkg -r failed"
}
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "service after dpkg -r"
assert_eq not-found "$(unit_property cocoon-manager.socket LoadState)" "socket after dpkg -r"
[ ! -e /usr/bin/cocoonctl ] || fail "/usr/bin/cocoonctl is still there after dpkg -r"
dpkg -P cocoon >/dev/null
[ ! -e /etc/systemd/system/sockets.target.wants/cocoon-manager.socket ] ||
        fail "the socket's enablement link survived the purge"

echo "package $(basename "$deb") OK"

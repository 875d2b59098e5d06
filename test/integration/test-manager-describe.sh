#!/usr/bin/env bash
# test-manager-describe.sh: io.cocoon.Manager.Describe and cocoonctl status: the configured hypervisor's
# version is probed off the event loop (other calls are answered while `--version` runs) and cached until
# the binary changes; settings cocoon.conf ignores are shown as warnings; only the backends this build
# implements are listed, with the binary the configuration names.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# The manager sees the build dir (read-only): the fake binary and its release file live there.
dir=$COCOON_BUILD_DIR/test-manager-describe
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
fake=$dir/fake-qemu
release=$dir/release

# write_fake VERSION: a "QEMU" whose --version blocks until $release exists, then prints VERSION.
write_fake() {
        cat >"$fake.new" <<SH
#!/bin/sh
[ "\$1" = --version ] || exit 1
while [ ! -e "$release" ]; do sleep 0.05; done
echo "QEMU emulator version $1 (fake for test-manager-describe)"
SH
        chmod 0755 "$fake.new"
        mv "$fake.new" "$fake"
}

probe_running() {
        pgrep -f "^/bin/sh $fake --version" >/dev/null
}

restart_manager() {
        systemctl stop cocoon-manager.socket cocoon-manager.service
        systemctl start cocoon-manager.socket
}

write_fake 9.9.1
mkdir -p /etc/cocoon
printf '[QEMU]\nBinary=%s\n' "$fake" >/etc/cocoon/cocoon.conf
restart_manager

info "while the version probe runs, the manager answers other calls"
timeout 60 cocoonctl status --json >"$dir/status.json" &
status_pid=$!
wait_for 20 probe_running
out=$(timeout 20 cocoonctl vm list 2>&1) || fail "vm list was not answered while the version probe ran"
assert_eq "No VMs found." "$out" "vm list during the probe"
reply=$(timeout 20 cocoonctl call org.varlink.service.GetInfo) ||
        fail "GetInfo not answered during the probe"
assert_contains "$reply" cocoon-manager "GetInfo during the probe"
kill -0 "$status_pid" 2>/dev/null || fail "Describe was answered before its probe finished"
touch "$release"
wait "$status_pid" || fail "cocoonctl status failed"
status=$(cat "$dir/status.json")
assert_contains "$status" '"name": "qemu"' "backends"
assert_contains "$status" "\"path\": \"$fake\"" "the configured binary"
assert_contains "$status" '"version": "9.9.1"' "the probed version"
assert_contains "$status" '"available": true' "qemu available"

info "the version is cached: no new process while the binary stays the same"
rm "$release"
out=$(timeout 20 cocoonctl status) ||
        fail "status re-probed an unchanged binary (it blocks without $release)"
assert_contains "$out" "$fake (9.9.1)" "status text"
probe_running && fail "a probe of an unchanged binary runs"

info "a replaced binary is probed again"
write_fake 9.9.2
touch "$release"
assert_contains "$(timeout 20 cocoonctl status --json)" '"version": "9.9.2"' \
        "version after the binary changed"

info "ignored settings of cocoon.conf are warnings in the journal, in Describe and in cocoonctl status"
assert_contains "$(varlink_raw_call io.cocoon.Manager.Describe)" '"configWarnings":[]' \
        "no warnings for a clean file"
assert_not_contains "$(cocoonctl status)" "Config warnings" "status of a clean file"
printf '[QEMU]\nBinary=%s\nAcel=kvm\n[Manger]\nPoolSize=2\n' "$fake" >/etc/cocoon/cocoon.conf
mkdir -p /etc/cocoon/cocoon.conf.d
printf '[Manager]\nStopTimeOutSec=60\n' >/etc/cocoon/cocoon.conf.d/50-typo.conf
restart_manager
out=$(cocoonctl status)
assert_contains "$out" "Config warnings:" "status"
assert_contains "$out" "/etc/cocoon/cocoon.conf:3: Unknown setting Acel= in [QEMU], ignored." "status"
assert_contains "$out" "/etc/cocoon/cocoon.conf:4: Unknown section [Manger], its settings are ignored." \
        "status"
assert_contains "$out" \
        "/etc/cocoon/cocoon.conf.d/50-typo.conf:2: Unknown setting StopTimeOutSec= in [Manager], ignored." \
        "status"
assert_not_contains "$out" "PoolSize" "status (its unknown section's warning covers the key)"
reply=$(varlink_raw_call io.cocoon.Manager.Describe)
assert_contains "$reply" \
        '"configWarnings":["/etc/cocoon/cocoon.conf:3: Unknown setting Acel= in [QEMU], ignored.",' \
        "Describe"
journal=$(journalctl -q --no-pager -o cat -p warning -u cocoon-manager.service)
assert_contains "$journal" "cocoon.conf:3: Unknown setting Acel= in [QEMU], ignored." \
        "journal at warning priority"
assert_contains "$journal" "50-typo.conf:2: Unknown setting StopTimeOutSec= in [Manager], ignored." \
        "journal at warning priority"
rm -r /etc/cocoon/cocoon.conf.d

info "only backends this build implements are listed, whatever else is on the manager's PATH"
mkdir -p "$dir/bin" /run/systemd/system/cocoon-manager.service.d
for b in cloud-hypervisor firecracker qemu-system-x86_64; do
        printf '#!/bin/sh\necho "%s v40.0.0"\n' "$b" >"$dir/bin/$b"
        chmod 0755 "$dir/bin/$b"
done
printf '[Service]\nEnvironment=PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin\n' "$dir/bin" \
        >/run/systemd/system/cocoon-manager.service.d/50-test-path.conf
systemctl daemon-reload
printf '[QEMU]\nBinary=/nonexistent/qemu\n' >/etc/cocoon/cocoon.conf
restart_manager
reply=$(varlink_raw_call io.cocoon.Manager.Describe)
fc="{\"name\":\"firecracker\",\"available\":true,\"path\":\"$dir/bin/firecracker\",\"version\":\"40.0.0\"}"
assert_contains "$reply" "\"backends\":[{\"name\":\"qemu\",\"available\":false,\"path\":\"/nonexistent/qemu\"},$fc]" \
        "a missing configured binary, and Firecracker found in PATH"
assert_not_contains "$reply" "cloud-hypervisor" "Describe"
assert_contains "$(cocoonctl status)" "qemu               not found" "status"
info "the configured name is looked up in PATH once, at start"
printf '[QEMU]\nBinary=qemu-system-x86_64\n' >/etc/cocoon/cocoon.conf
restart_manager
found="{\"name\":\"qemu\",\"available\":true,\"path\":\"$dir/bin/qemu-system-x86_64\","
found+="\"version\":\"40.0.0\"}"
assert_contains "$(varlink_raw_call io.cocoon.Manager.Describe)" "\"backends\":[$found,$fc]" "qemu found in PATH"
rm /run/systemd/system/cocoon-manager.service.d/50-test-path.conf
systemctl daemon-reload

info "ok"

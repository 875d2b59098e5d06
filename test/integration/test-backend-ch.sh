#!/usr/bin/env bash
# test-backend-ch.sh: the Cloud Hypervisor backend against the fake cloud-hypervisor (test/fake-vmm), found
# on the manager's PATH: Describe, create -> start -> console -> graceful stop -> start -> forced stop ->
# delete with the exact command line and API calls asserted from the fake's log (its lines in the unit's
# journal), crash detection, a failing boot, a manager restart while it runs (the console on CH's stdio still
# logged), snapshot, clone, restore (and one failing mid-way), an OCI image's disks (layers read-only with
# serials, the COW last) and command line, an unavailable backend.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

dir=$COCOON_BUILD_DIR/test-backend-ch
rm -rf "$dir"
mkdir -p "$dir/bin" /run/systemd/system/cocoon-manager.service.d
cleanup() {
        rm -rf "$dir"
        systemctl unset-environment FAKE_CH_FAIL FAKE_CH_CONTROL 2>/dev/null || true
}
trap cleanup EXIT
install -m 0755 "$COCOON_SOURCE_DIR/test/fake-vmm/cloud-hypervisor" "$dir/bin/cloud-hypervisor"
printf '[Service]\nEnvironment=PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin\n' "$dir/bin" \
        >/run/systemd/system/cocoon-manager.service.d/50-test-path.conf
systemctl daemon-reload
restart_manager() {
        systemctl stop cocoon-manager.socket cocoon-manager.service
        systemctl start cocoon-manager.socket
}
restart_manager
# What the running fakes fail (test/fake-vmm/cloud-hypervisor): empty, or the name of an API call.
# In the sandbox's own /run: the VM unit's PrivateTmp= and ProtectHome= hide a build tree in /var/tmp or a
# home from the fake, which must read this file.
ctl=/run/cocoon-test-ch
mkdir -p -m 0755 "$ctl"
: >"$ctl/fail"
chmod 0644 "$ctl/fail"
systemctl set-environment FAKE_CH_CONTROL="$ctl/fail"

vm_field() { # vm_field REF FIELD
        cocoonctl vm inspect "$1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
vm_state() { vm_field "$1" state; }
leftovers() { # leftovers ID: a unit (either of the VM's two), a process or runtime files of the VM
        systemctl list-units --all --no-legend --plain "cocoon-vm@$1.service" "cocoon-vm@$1-r.service" \
                2>/dev/null || true
        ls /run/cocoon/vms/"$1"/api.sock /run/cocoon/vms/"$1"/r/api.sock 2>/dev/null || true
        pgrep -f "fake-vmm|$dir/bin/cloud-hypervisor.*$1" || true
}
# fake_log ID: the fake's lines (without the prefix) of every start of the VM, in order (a restored VM runs
# as its other unit, cocoon-vm@ID-r).
fake_log() {
        journalctl --sync 2>/dev/null || true
        journalctl -q -u "cocoon-vm@$1.service" -u "cocoon-vm@$1-r.service" -o cat --no-pager |
                sed -n 's/^fake-ch: //p'
}
# requests ID: the API calls, method and path and status.
requests() { fake_log "$1" | grep -E '^(GET|PUT|PATCH) ' | cut -d' ' -f1-3; }
expect_error() { # expect_error ERROR-NAME COMMAND...
        local rc=0 err
        err=$("${@:2}" 2>&1 >/dev/null) || rc=$?
        assert_ne 0 "$rc" "exit code of $*"
        assert_contains "$err" "$1" "error of $*"
}

info "Describe: the fake answers --version: cloud-hypervisor is available, DefaultBackend=auto picks it"
reply=$(varlink_raw_call io.cocoon.Manager.Describe)
expected="{\"name\":\"cloud-hypervisor\",\"available\":true,\"path\":\"$dir/bin/cloud-hypervisor\","
expected+='"version":"40.0.0"}'
assert_contains "$reply" "$expected" "Describe"
assert_contains "$reply" '"defaultBackend":"cloud-hypervisor"' "Describe"

info "create with --backend cloud-hypervisor"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null
id=$(cocoonctl vm create guest --name ch1 --backend cloud-hypervisor --cpu 2 --memory 512M --storage 64M)
unit=cocoon-vm@$id.service
assert_eq created "$(vm_state ch1)" "state after create"
assert_eq cloud-hypervisor "$(vm_field ch1 backend)" "backend of the record"
assert_contains "$(cocoonctl vm list)" "cloud-hypervisor" "vm list"

info "start: the unit runs the fake, sandboxed like QEMU, with the exact command line"
cocoonctl vm start ch1 >/dev/null
assert_eq running "$(vm_state ch1)" "state after start"
assert_eq cocoon.slice "$(unit_property "$unit" Slice)" "unit slice"
assert_eq strict "$(unit_property "$unit" ProtectSystem)" "ProtectSystem"
assert_eq yes "$(unit_property "$unit" NoNewPrivileges)" "NoNewPrivileges"
assert_eq cocoon-vm "$(unit_property "$unit" User)" "User"
assert_contains "$(unit_property "$unit" DeviceAllow)" "/dev/kvm" "DeviceAllow: Cloud Hypervisor needs KVM"
pid=$(unit_property "$unit" MainPID)
assert_contains "$(tr '\0' ' ' </proc/"$pid"/cmdline)" "$dir/bin/cloud-hypervisor" "MainPID is the fake"
expected_argv=$(python3 -c '
import json, sys
v = json.load(sys.stdin)
b = v["bootConfig"]
disks = []
for s in v["storageConfigs"]:
    item = "path=" + s["path"]
    item += ",readonly=on" if s["readOnly"] else ",direct=on,sparse=on"
    item += ",image_type=raw,num_queues=2,queue_size=512"
    if s.get("serial"):
        item += ",serial=" + s["serial"]
    disks.append(item)
print(json.dumps(["--api-socket", "path=/run/cocoon/vms/%s/api.sock" % v["id"], "--cpus", "boot=2,max=2",
                  "--memory", "size=536870912", "--kernel", b["kernelPath"], "--initramfs", b["initrdPath"],
                  "--cmdline", b["cmdline"], "--disk"] + disks + ["--rng", "src=/dev/urandom", "--balloon",
                  "size=134217728,deflate_on_oom=on,free_page_reporting=on", "--serial", "tty",
                  "--console", "off"]))' <"/var/lib/cocoon/vms/$id/vm.json")
assert_eq "argv $expected_argv" "$(fake_log "$id" | grep '^argv ' | head -n 1)" "the command line"

info "vm debug shows the same command line and the API calls of a start"
debug=$(cocoonctl vm debug ch1)
assert_contains "$debug" "'--serial' \\" "vm debug"
assert_contains "$debug" "#   PUT /api/v1/vm.resume (when paused)" "vm debug"
assert_eq "$expected_argv" "$(cocoonctl vm debug ch1 --json | python3 -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["argv"][1:]))')" "argv of vm debug"

info "console: the fake guest's ready line and ticks reach console.log and vm logs"
wait_for 30 grep -q "cocoon-fake-ch: ready" "/var/log/cocoon/vms/$id/console.log"
wait_for 30 grep -q "tick 3" "/var/log/cocoon/vms/$id/console.log"
assert_contains "$(cocoonctl vm logs ch1)" "cocoon-fake-ch: ready" "vm logs"

info "graceful stop: vm.power-button, the guest powers off, the fake exits"
cocoonctl vm stop ch1 >/dev/null
assert_eq stopped "$(vm_state ch1)" "state after stop"
assert_eq "GET /api/v1/vm.info 200
PUT /api/v1/vm.power-button 204" "$(requests "$id")" "API calls of start and graceful stop"
assert_contains "$(fake_log "$id")" "exit poweroff" "the guest powered off"
assert_contains "$(cat "/var/log/cocoon/vms/$id/console.log")" "cocoon-fake-ch: power off" "console.log"

info "a guest that ignores the power button: after the timeout vm.shutdown (disks flushed), then SIGTERM"
cocoonctl vm start ch1 >/dev/null
echo deaf-guest >"$ctl/fail"
cocoonctl vm stop ch1 --timeout 2 >/dev/null
: >"$ctl/fail"
assert_eq stopped "$(vm_state ch1)" "state after the stop of a deaf guest"
assert_eq "PUT /api/v1/vm.power-button 204
PUT /api/v1/vm.shutdown 204" "$(requests "$id" | tail -n 2)" "the last API calls of that stop"
assert_eq "exit SIGTERM" "$(fake_log "$id" | tail -n 1)" "how the fake ended"

info "start again, then a forced stop: no API call, systemd's SIGTERM"
cocoonctl vm start ch1 >/dev/null
assert_eq running "$(vm_state ch1)" "state after the second start"
cocoonctl vm stop ch1 --force >/dev/null
assert_eq stopped "$(vm_state ch1)" "state after the forced stop"
assert_eq 3 "$(fake_log "$id" | grep -c '^argv ')" "starts"
assert_eq 2 "$(requests "$id" | grep -c power-button)" "power-button calls after the forced stop"
assert_eq 1 "$(requests "$id" | grep -c vm.shutdown)" "vm.shutdown calls after the forced stop"
assert_contains "$(fake_log "$id")" "exit SIGTERM" "the fake was terminated"
assert_eq "" "$(leftovers "$id")" "leftovers after the forced stop"

info "the fake killed: the VM is in error within 5 s"
cocoonctl vm start ch1 >/dev/null
pid=$(unit_property "$unit" MainPID)
kill -9 "$pid"
in_error() { [ "$(vm_state ch1)" = error ]; }
wait_for 5 in_error
# A pty an earlier run remembered (CH's serial was one) is no console of a start on stdio: it goes.
ln -sfn /dev/pts/0 "/var/log/cocoon/vms/$id/console.pty"
cocoonctl vm start ch1 >/dev/null
assert_eq running "$(vm_state ch1)" "state after a start from error"
[ ! -L "/var/log/cocoon/vms/$id/console.pty" ] || fail "a stale console.pty survived the start"

info "a manager restart while it runs: still running, what the guest printed meanwhile in console.log"
log=/var/log/cocoon/vms/$id/console.log
last_tick() { grep -o 'tick [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2; }
systemctl stop cocoon-manager.socket cocoon-manager.service
before=$(last_tick)
# With no manager, CH's stdout (systemd's append to the spool) keeps every line: none is lost.
spool_past() { grep -qw "tick $1" "/var/log/cocoon/vms/$id/console.spool"; }
wait_for 30 spool_past "$((before + 3))"
systemctl start cocoon-manager.socket
assert_eq running "$(vm_state ch1)" "state after the manager restart"
ticks() { grep -c tick "$log"; }
more_ticks() { [ "$(ticks)" -gt "$1" ]; }
wait_for 30 grep -qw "tick $((before + 3))" "$log"
for i in 1 2 3; do
        grep -qw "tick $((before + i))" "$log" || fail "tick $((before + i)) (printed with no manager) lost"
done

info "console input reaches CH's stdin (--serial tty), after the restart too"
out=$( (sleep 1; printf 'hello-ch\n'; sleep 2) | cocoonctl vm console ch1 --no-tty)
assert_contains "$out" "echo hello-ch" "console output after the input"

info "snapshot: vm.pause, vm.snapshot into the VM's exchange directory, vm.resume; the files in the store"
before=$(requests "$id" | wc -l)
cocoonctl snapshot save ch1 --name warm >/dev/null
assert_eq "PUT /api/v1/vm.pause 204
PUT /api/v1/vm.snapshot 204
GET /api/v1/vm.info 200
PUT /api/v1/vm.resume 204" "$(requests "$id" | tail -n +"$((before + 1))")" "API calls of the snapshot"
snap=$(find /var/lib/cocoon/snapshots -name config.json -printf '%h\n' | head -n 1)
[ -n "$snap" ] || fail "no config.json in the snapshot store"
for f in state.json memory-ranges cow.raw; do
        [ -f "$snap/$f" ] || fail "the snapshot has no $f"
done
# Clones get hard links of it: no hypervisor (all are one user) may write it.
assert_eq "root 440" "$(stat -c '%U %a' "$snap/memory-ranges")" "owner and mode of the saved memory"
saved=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["fake_counter"])' <"$snap/state.json")
[ "$saved" -ge 3 ] || fail "the saved counter is $saved"
assert_eq "" "$(ls "/var/lib/cocoon/vms/$id/vmm-state")" "the exchange directory after the snapshot"

info "clone: only --api-socket, vm.restore of the rewritten config, the counter goes on from the snapshot"
cid=$(cocoonctl vm clone warm --name ch2)
assert_eq running "$(vm_state ch2)" "state of the clone"
assert_eq "argv [\"--api-socket\", \"path=/run/cocoon/vms/$cid/api.sock\"]" \
        "$(fake_log "$cid" | grep '^argv ')" "the clone's command line"
assert_eq "PUT /api/v1/vm.restore 204
GET /api/v1/vm.info 200
PUT /api/v1/vm.resume 204" "$(requests "$cid")" "API calls of the clone's start"
restore=$(fake_log "$cid" | grep '^PUT /api/v1/vm.restore')
assert_contains "$restore" "file:///var/lib/cocoon/vms/$cid/vmm-state" "vm.restore's source_url"
wait_for 30 grep -q "restored at tick $saved" "/var/log/cocoon/vms/$cid/console.log"
wait_for 30 grep -q "tick $((saved + 2))" "/var/log/cocoon/vms/$cid/console.log"
cocoonctl vm rm --force ch2 >/dev/null
assert_eq "" "$(leftovers "$cid")" "leftovers of the clone"

info "vm.restore answering 500: the clone fails with HypervisorFailed, nothing of it stays"
echo vm.restore >"$ctl/fail"
rc=0
err=$(cocoonctl vm clone warm --name ch3 2>&1 >/dev/null) || rc=$?
: >"$ctl/fail"
assert_ne 0 "$rc" "exit code of the failing clone"
assert_contains "$err" "HypervisorFailed" "error of the failing clone"
assert_contains "$err" "injected failure of vm.restore" "the fake's words in the error"
assert_not_contains "$(cocoonctl vm list)" "ch3" "vm list after the failing clone"
assert_eq 1 "$(ls /var/lib/cocoon/vms | wc -l)" "VM directories after the failing clone"
units=$(systemctl list-units --no-legend --plain 'cocoon-vm@*' | cut -d' ' -f1)
assert_eq "cocoon-vm@$id.service" "$units" "units after the failing clone"

info "vm.snapshot answering 500: SnapshotFailed, the guest resumed, nothing kept"
echo vm.snapshot >"$ctl/fail"
before=$(requests "$id" | wc -l)
rc=0
err=$(cocoonctl snapshot save ch1 --name broken 2>&1 >/dev/null) || rc=$?
: >"$ctl/fail"
assert_ne 0 "$rc" "exit code of the failing snapshot"
assert_contains "$err" "SnapshotFailed" "error of the failing snapshot"
assert_contains "$err" "injected failure of vm.snapshot" "the fake's words in the error"
assert_eq "PUT /api/v1/vm.pause 204
PUT /api/v1/vm.snapshot 500
GET /api/v1/vm.info 200
PUT /api/v1/vm.resume 204" "$(requests "$id" | tail -n +"$((before + 1))")" \
        "API calls of the failing snapshot"
assert_eq running "$(vm_state ch1)" "state after the failing snapshot"
assert_not_contains "$(cocoonctl snapshot list)" "broken" "snapshot list"
assert_eq 1 "$(ls /var/lib/cocoon/snapshots | wc -l)" "snapshot directories after the failing snapshot"

info "restore with vm.restore answering 500: HypervisorFailed, the VM as it was (same process, disks)"
pid=$(unit_property "$unit" MainPID)
cow=/var/lib/cocoon/vms/$id/cow.raw
cow_ino=$(stat -c %i "$cow")
echo vm.restore >"$ctl/fail"
rc=0
err=$(cocoonctl vm restore ch1 warm 2>&1 >/dev/null) || rc=$?
: >"$ctl/fail"
assert_ne 0 "$rc" "exit code of the failing restore"
assert_contains "$err" "HypervisorFailed" "error of the failing restore"
assert_contains "$err" "injected failure of vm.restore" "the fake's words in the error"
assert_eq running "$(vm_state ch1)" "state after the failed restore"
assert_eq "$pid" "$(unit_property "$unit" MainPID)" "the VM's process after the failed restore"
assert_eq "$cow_ino" "$(stat -c %i "$cow")" "the VM's disk after the failed restore"
assert_eq "" "$(ls "/var/lib/cocoon/vms/$id" | grep restore || true)" "restore files left"
assert_eq "cocoon-vm@$id.service" "$(systemctl list-units --all --no-legend --plain "cocoon-vm@$id*" |
        cut -d' ' -f1)" "units after the failed restore"
# The running hypervisor still saves into the exchange directory it was given (emptied, not replaced).
cocoonctl snapshot save ch1 --name warm2 >/dev/null
cocoonctl snapshot rm warm2 >/dev/null

info "restore: a second CH (--api-socket only) as unit ID-r restores the snapshot, the counter goes back"
n=$(ticks)
wait_for 30 more_ticks "$((n + 1))"
out=$(cocoonctl vm restore ch1 warm --json)
assert_eq running "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" \
        "state after the restore"
assert_eq "cocoon-vm@$id-r.service" "$(systemctl list-units --all --no-legend --plain "cocoon-vm@$id*" |
        cut -d' ' -f1)" "units after the restore: the old one retired"
rpid=$(unit_property "cocoon-vm@$id-r.service" MainPID)
assert_ne "$pid" "$rpid" "the restored VM's process"
assert_eq "argv [\"--api-socket\", \"path=/run/cocoon/vms/$id/r/api.sock\"]" \
        "$(fake_log "$id" | grep '^argv ' | tail -n 1)" "the restored CH's command line"
restore=$(fake_log "$id" | grep '^PUT /api/v1/vm.restore 204')
assert_contains "$restore" "file:///var/lib/cocoon/vms/$id/vmm-state" "vm.restore's source_url"
assert_ne "$cow_ino" "$(stat -c %i "$cow")" "the VM's disk: the snapshot's copy"
assert_eq "" "$(ls "/var/lib/cocoon/vms/$id" | grep restore || true)" "restore files left"
wait_for 30 grep -q "restored at tick $saved" "/var/log/cocoon/vms/$id/console.log"
# The counter went back to the snapshot's and counts on from there in the same console.log.
after() { [ "$(grep -v restored "/var/log/cocoon/vms/$id/console.log" | grep -cw "tick $1")" -ge 2 ]; }
wait_for 30 after "$((saved + 1))"

info "the fake crashes in vm.snapshot: SnapshotFailed, the VM in error, nothing kept"
echo crash:vm.snapshot >"$ctl/fail"
rc=0
err=$(cocoonctl snapshot save ch1 --name crashed 2>&1 >/dev/null) || rc=$?
: >"$ctl/fail"
assert_ne 0 "$rc" "exit code of the snapshot the fake crashed in"
assert_contains "$err" "SnapshotFailed" "error of the snapshot the fake crashed in"
wait_for 10 in_error
assert_contains "$(fake_log "$id")" "PUT /api/v1/vm.snapshot crash" "the fake's last words"
assert_not_contains "$(cocoonctl snapshot list)" "crashed" "snapshot list"
assert_eq 1 "$(ls /var/lib/cocoon/snapshots | wc -l)" "snapshot directories after the crash"
# Its unit and process are gone (a start removes the stale API socket).
assert_eq "" "$(leftovers "$id" | grep -v 'api.sock$' || true)" "leftovers of the crashed VM"
cocoonctl snapshot rm warm >/dev/null

info "delete: nothing left"
cocoonctl vm rm ch1 >/dev/null
assert_eq "" "$(leftovers "$id")" "leftovers after rm"
[ ! -e "/var/lib/cocoon/vms/$id" ] && [ ! -e "/var/log/cocoon/vms/$id" ] || fail "VM directories left"

info "the fake enforces Cloud Hypervisor's API: unknown fields, wrong types, methods, state rules"
fid=$(cocoonctl vm run guest --name chapi --backend cloud-hypervisor --memory 256M)
api() { # api METHOD ENDPOINT [BODY]: "<status> <body>"
        curl -sS --unix-socket "/run/cocoon/vms/$fid/api.sock" -X "$1" -w ' %{http_code}' \
                ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost/api/v1/$2"
}
assert_contains "$(api PUT vm.snapshot '{"destination_url":"file:///tmp","bogus":1}')" \
        "unknown field \`bogus\`" "an unknown field"
assert_contains "$(api PUT vm.snapshot '{"destination_url":1}')" "invalid type" "a wrong type"
assert_contains "$(api PUT vm.snapshot '{}')" "missing field \`destination_url\`" "a missing field"
assert_contains "$(api PUT vm.snapshot '{"destination_url":"file:///tmp"}')" " 405" \
        "vm.snapshot while running"
assert_contains "$(api PUT vm.boot)" " 500" "vm.boot of a booted VM"
assert_contains "$(api GET vm.pause)" " 405" "GET of a PUT endpoint"
assert_contains "$(api PUT vm.resume)" " 405" "vm.resume of a running VM"
assert_contains "$(api GET vm.nosuch)" " 404" "an unknown endpoint"
assert_eq running "$(vm_state chapi)" "state after the refused calls"
cocoonctl vm rm --force chapi >/dev/null

info "vm.boot fails (the fake's boot of its command line answers 500): HypervisorFailed, nothing running"
systemctl set-environment FAKE_CH_FAIL=vm.boot
rc=0
err=$(cocoonctl vm run guest --name chfail --backend cloud-hypervisor --memory 256M 2>&1 >/dev/null) || rc=$?
systemctl unset-environment FAKE_CH_FAIL
assert_ne 0 "$rc" "exit code of vm run"
assert_contains "$err" "HypervisorFailed" "error of vm run"
assert_contains "$err" "injected failure of vm.boot" "the fake's own words in the error"
fid=$(cocoonctl vm list --json | python3 -c '
import json, sys
print([v["id"] for v in json.load(sys.stdin) if v["name"] == "chfail"][0])')
assert_eq error "$(vm_state chfail)" "state after the failed start"
assert_eq "" "$(leftovers "$fid")" "leftovers of the failed start"
cocoonctl vm rm chfail >/dev/null

info "a bridge NIC: its TAP is single-queue, as CH opens it; a restore with NICs is NotSupported"
ip link add br0 type bridge
ip link set br0 up
cocoonctl vm run guest --name chnic --backend cloud-hypervisor --memory 256M --nics 1 --bridge br0 >/dev/null
assert_eq running "$(vm_state chnic)" "state of a CH VM with a bridge NIC"
nic_tap=$(ip -o link show master br0 | awk -F': ' '{ print $2 }' | cut -d@ -f1)
assert_ne "" "$nic_tap" "the TAP on br0"
assert_not_contains "$(ip -d link show "$nic_tap")" "multi_queue" "flags of the CH VM's TAP"
cocoonctl snapshot save chnic --name chnicsnap >/dev/null
expect_error "NotSupported" cocoonctl vm restore chnic chnicsnap
assert_eq running "$(vm_state chnic)" "state after the refused restore"
cocoonctl snapshot rm chnicsnap >/dev/null
cocoonctl vm rm --force chnic >/dev/null
ip link del br0

info "an OCI image (the test guest's layout, imported): its layers read-only with serials, the COW last"
[ -f "${OCI_LAYOUT:-}/index.json" ] || fail "no OCI test guest in $guest_env (rebuild: test/guest/build.sh)"
cocoonctl image import oci-guest "$OCI_LAYOUT" >/dev/null
read -r -a layers <<<"$(cocoonctl image inspect oci-guest | python3 -c 'import json, sys
print(" ".join(x["blob"] for x in json.load(sys.stdin)["layers"]))')"
assert_eq 3 "${#layers[@]}" "layers of the OCI test guest"
id=$(cocoonctl vm create oci-guest --name choci --backend cloud-hypervisor --cpu 2 --memory 512M \
        --storage 64M)
cocoonctl vm start choci >/dev/null
ro=",readonly=on,image_type=raw,num_queues=2,queue_size=512,serial="
b=/var/lib/cocoon/images/blobs
expected_disks="path=$b/${layers[0]}.erofs${ro}cocoon-layer0 path=$b/${layers[1]}.erofs${ro}cocoon-layer1 \
path=$b/${layers[2]}.erofs${ro}cocoon-layer2 path=/var/lib/cocoon/vms/$id/cow.raw,direct=on,sparse=on,\
image_type=raw,num_queues=2,queue_size=512,serial=cocoon-cow"
argv=$(fake_log "$id" | grep '^argv ' | head -n 1 | sed 's/^argv //')
assert_eq "$expected_disks" "$(python3 -c 'import json, sys
a = json.loads(sys.argv[1]); i = a.index("--disk"); j = a.index("--rng")
print(" ".join(a[i + 1:j]))' "$argv")" "CH's --disk of an OCI image"
assert_eq "console=ttyS0 loglevel=3 boot=cocoon-overlay cocoon.layers=cocoon-layer2,cocoon-layer1,\
cocoon-layer0 cocoon.cow=cocoon-cow clocksource=kvm-clock rw" "$(python3 -c 'import json, sys
a = json.loads(sys.argv[1]); print(a[a.index("--cmdline") + 1])' "$argv")" "CH's --cmdline of an OCI image"
cocoonctl vm rm --force choci >/dev/null

info "tcg is refused for a backend that runs on KVM only"
expect_error "InvalidConfiguration" \
        cocoonctl vm create guest --name cht --backend cloud-hypervisor --accel tcg
assert_not_contains "$(cocoonctl vm list)" "cht" "vm list after the refused create"

info "an unavailable backend is NotSupported with the reason"
printf '[CloudHypervisor]\nBinary=/nonexistent/cloud-hypervisor\n' >/etc/cocoon/cocoon.conf
restart_manager
expect_error "NotSupported" cocoonctl vm create guest --name chx --backend cloud-hypervisor
expect_error "/nonexistent/cloud-hypervisor was not found" cocoonctl vm create guest --name chx \
        --backend cloud-hypervisor
assert_contains "$(varlink_raw_call io.cocoon.Manager.Describe)" '"defaultBackend":"qemu"' \
        "auto without cloud-hypervisor"
rm /etc/cocoon/cocoon.conf /run/systemd/system/cocoon-manager.service.d/50-test-path.conf
systemctl daemon-reload

info "ok"

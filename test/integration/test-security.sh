#!/usr/bin/env bash
# test-security.sh: hypervisors run confined (an unprivileged user, no capabilities, a system call filter, no
# network, only their own VM's files in sight) and the guest still boots; `systemd-analyze security` rates
# the VM unit at most 2.5 and the manager at most 5.0. The network helper cocoon-network runs as root with
# CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN only, a system call filter and no new privileges, in the host's
# mount namespace, on a socket only root may use; its exposure is at most 4.5. OCI layers are unpacked by
# cocoon-unpack's unit, with the rights the manager no longer has (its exposure printed, at most 5.0).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

# exposure UNIT: the overall exposure level systemd-analyze gives the unit, e.g. 1.7.
exposure() {
        systemd-analyze security --no-pager "$1" |
                sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\) .*$/\1/p'
}

# assert_at_most LIMIT VALUE WHAT
assert_at_most() {
        [ -n "$2" ] || fail "$3: no value"
        awk -v v="$2" -v l="$1" 'BEGIN { exit !(v <= l) }' || fail "$3 is $2, above $1"
}

# status_field PID FIELD: a field of /proc/PID/status, its words separated by single spaces.
status_field() {
        awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

info "the hypervisors' user exists in the sandbox (sysusers.d), in group kvm"
getent passwd cocoon-vm >/dev/null || fail "no user cocoon-vm"
assert_contains " $(id -nG cocoon-vm) " " kvm " "groups of cocoon-vm"

info "two guests that print ticks"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$CMDLINE cocoon.tick=1" >/dev/null
id=$(cocoonctl vm run guest --name sec --memory 256M --storage 64M)
other=$(cocoonctl vm run guest --name other --memory 128M --storage 64M)
unit=cocoon-vm@$id.service
wait_for 90 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id/console.log"
wait_for 30 grep -q "COCOON-TICK 1 " "/var/log/cocoon/vms/$id/console.log"

info "QEMU runs as cocoon-vm without any capability, with no new privileges and a seccomp filter"
pid=$(unit_property "$unit" MainPID)
assert_contains "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "qemu-system-x86_64" "MainPID is qemu"
uid=$(id -u cocoon-vm)
assert_ne 0 "$uid" "uid of cocoon-vm"
assert_eq "$uid $uid $uid $uid" "$(status_field "$pid" Uid)" "Uid of qemu (real, effective, saved, fs)"
for cap in CapEff CapPrm CapBnd CapAmb; do
        assert_eq 0000000000000000 "$(status_field "$pid" $cap)" "$cap of qemu"
done
assert_eq 1 "$(status_field "$pid" NoNewPrivs)" "NoNewPrivs of qemu"
assert_eq 2 "$(status_field "$pid" Seccomp)" "Seccomp of qemu (filter mode)"
assert_eq cocoon-vm "$(unit_property "$unit" User)" "User="
assert_eq yes "$(unit_property "$unit" PrivateNetwork)" "PrivateNetwork="
assert_eq AF_UNIX "$(unit_property "$unit" RestrictAddressFamilies)" "RestrictAddressFamilies="
# TCG writes the code it generates: no MemoryDenyWriteExecute (KVM gets it; see test-bus-unit-properties).
vm_json() { cocoonctl vm inspect sec | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
assert_eq tcg "$(vm_json '["runtime"]["accelerator"]')" "accelerator"
assert_eq no "$(unit_property "$unit" MemoryDenyWriteExecute)" "MemoryDenyWriteExecute= under TCG"

info "its files are its own, the state around them stays root's"
assert_eq "cocoon-vm 700" "$(stat -c '%U %a' "/run/cocoon/vms/$id")" "run directory"
assert_eq "cocoon-vm 600" "$(stat -c '%U %a' "/var/lib/cocoon/vms/$id/cow.raw")" "COW disk"
assert_eq cocoon-vm "$(stat -c %U "/run/cocoon/vms/$id/api.sock")" "owner of api.sock"
assert_eq "cocoon-vm 600" "$(stat -c '%U %a' "/var/log/cocoon/vms/$id/console.spool")" "console spool"
for d in /var/lib/cocoon /var/lib/cocoon/vms "/var/lib/cocoon/vms/$id" /var/log/cocoon \
        "/var/log/cocoon/vms/$id"; do
        assert_eq "root 700" "$(stat -c '%U %a' "$d")" "owner and mode of $d"
done

info "in its mount namespace it sees its own files only: not the other VM's, not the manager's"
in_vm() { nsenter --target "$pid" --mount -- "$@"; }
seen=$(in_vm find /var/lib/cocoon /run/cocoon /var/log/cocoon -mindepth 1 -not -type d | sort)
expected=$( (
        echo "/var/lib/cocoon/vms/$id/cow.raw"
        echo "/var/log/cocoon/vms/$id/console.spool"
        ls /var/lib/cocoon/images/blobs/*.kernel /var/lib/cocoon/images/blobs/*.initrd \
                /var/lib/cocoon/images/blobs/*.rootfs
        ls -d /run/cocoon/vms/"$id"/*
) | sort)
assert_eq "$expected" "$seen" "files under the cocoon directories as qemu sees them"
assert_not_contains "$seen" "$other" "qemu's view"
assert_not_contains "$seen" "vm.json" "qemu's view"
in_vm test ! -e /run/cocoon/io.cocoon.Manager || fail "qemu sees the manager's socket"
info "as cocoon-vm, even with the VM's own files in reach, nothing else is writable"
as_vm() { in_vm setpriv --reuid=cocoon-vm --regid=cocoon-vm --init-groups -- "$@"; }
as_vm sh -c ": >>/var/lib/cocoon/vms/$id/cow.raw" || fail "cocoon-vm cannot write its own disk"
kernels=(/var/lib/cocoon/images/blobs/*.kernel)
assert_fails as_vm sh -c ": >>${kernels[0]}"
assert_fails as_vm cat "/var/lib/cocoon/vms/$other/cow.raw"

info "the guest boots and runs confined"
assert_contains "$(cocoonctl vm logs sec)" "COCOON-GUEST-READY" "vm logs"
assert_contains "$(cocoonctl vm logs sec)" "COCOON-DISK vda: COCOON-ROOTFS-MARKER" "vm logs"
assert_eq running "$(vm_json '["state"]')" "state"

info "systemd-analyze security: the VM unit at most 2.5, the manager at most 5.0"
vm_exposure=$(exposure "$unit")
manager_exposure=$(exposure cocoon-manager.service)
info "exposure: $unit $vm_exposure, cocoon-manager.service $manager_exposure"
assert_at_most 2.5 "$vm_exposure" "exposure of $unit"
assert_at_most 5.0 "$manager_exposure" "exposure of cocoon-manager.service"

info "the network helper: root with three capabilities, a system call filter, in the host's mount namespace"
reply=$(printf '%s\0' '{"method":"org.varlink.service.GetInfo"}' |
        socat -t 5 - UNIX-CONNECT:/run/cocoon/io.cocoon.Network | tr '\0' '\n')
assert_contains "$reply" '"product":"cocoon-network"' "GetInfo of the network helper"
helper=$(unit_property cocoon-network.service MainPID)
assert_ne 0 "$helper" "the network helper's pid"
assert_eq "cap_net_admin cap_net_raw cap_sys_admin" \
        "$(unit_property cocoon-network.service CapabilityBoundingSet)" "CapabilityBoundingSet= of the helper"
assert_eq 0000000000203000 "$(status_field "$helper" CapBnd)" "CapBnd of the helper"
assert_eq 1 "$(status_field "$helper" NoNewPrivs)" "NoNewPrivs of the helper"
assert_eq 2 "$(status_field "$helper" Seccomp)" "Seccomp of the helper (filter mode)"
# Namespaces it binds under /run/netns must be seen by systemd and `ip netns`: no mount namespace of its own.
assert_eq "$(readlink /proc/1/ns/mnt)" "$(readlink "/proc/$helper/ns/mnt")" "mount namespace of the helper"
assert_eq 600 "$(stat -c %a /run/cocoon/io.cocoon.Network)" "mode of the helper's socket"
reply=$(printf '%s\0' '{"method":"io.cocoon.Network.Delete","parameters":{}}' |
        setpriv --reuid=cocoon-vm --regid=cocoon-vm --clear-groups -- \
                socat -t 5 - UNIX-CONNECT:/run/cocoon/io.cocoon.Network 2>&1 || true)
assert_not_contains "$reply" '"method"' "a reply to someone other than root"
network_exposure=$(exposure cocoon-network.service)
info "exposure: cocoon-network.service $network_exposure"
assert_at_most 4.5 "$network_exposure" "exposure of cocoon-network.service"
info "the layer unpacker's unit: its rights, and its exposure while it runs"
# A one-layer OCI layout to import; mkfs.erofs (bound over in the sandbox's own mount namespace) waits
# for a file, so the unpacker's transient unit stays up until it has been looked at.
layout=$(mktemp -d /var/tmp/test-security-layout.XXXXXX)
python3 - "$layout" <<'PY'
import hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    i = tarfile.TarInfo("hello"); i.size = 3; t.addfile(i, io.BytesIO(b"hi\n"))
layer = blob(raw.getvalue())
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar")]}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(manifest,
          mediaType="application/vnd.oci.image.manifest.v1+json")]}, open(out + "/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(out + "/oci-layout", "w"))
PY
real_mkfs=$(command -v mkfs.erofs)
# In /run: the unpacker's unit has a private /var/tmp.
cp "$real_mkfs" /run/test-security-mkfs.erofs.real
cat >/run/test-security-mkfs.erofs <<EOS
#!/bin/sh
while [ ! -e /run/test-security-release ]; do sleep 0.1; done
exec /run/test-security-mkfs.erofs.real "\$@"
EOS
chmod 755 /run/test-security-mkfs.erofs
mount --bind /run/test-security-mkfs.erofs "$real_mkfs"
cocoonctl image import unpacked "$layout" >"$layout/import.out" 2>&1 &
import_pid=$!
wait_for 30 sh -c "systemctl list-units --no-legend 'cocoon-unpack-*' | grep -q cocoon-unpack-"
helper=$(systemctl list-units --no-legend --plain 'cocoon-unpack-*' | awk '{ print $1; exit }')
helper_pid=$(unit_property "$helper" MainPID)
helper_exposure=$(exposure "$helper")
# CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_MKNOD, CAP_SETFCAP, CAP_SYS_ADMIN
assert_eq 000000008820000f "$(status_field "$helper_pid" CapBnd)" "CapBnd of the unpacker"
assert_eq 1 "$(status_field "$helper_pid" NoNewPrivs)" "NoNewPrivs of the unpacker"
assert_eq yes "$(unit_property "$helper" PrivateNetwork)" "PrivateNetwork= of the unpacker"
assert_eq AF_UNIX "$(unit_property "$helper" RestrictAddressFamilies)" "RestrictAddressFamilies= of the unpacker"
# Its memory for trees: a tmpfs of its own over /run/cocoon, which hides the manager's socket from it.
assert_eq tmpfs "$(findmnt -n -o FSTYPE -N "$helper_pid" /run/cocoon)" "the unpacker's /run/cocoon"
[ -S /run/cocoon/io.cocoon.Manager ] || fail "no manager socket to hide"
[ ! -e "/proc/$helper_pid/root/run/cocoon/io.cocoon.Manager" ] || fail "the unpacker sees the manager's socket"
touch /run/test-security-release
wait "$import_pid" || fail "import through the held unpacker: $(cat "$layout/import.out")"
umount "$real_mkfs"
rm -rf "$layout" /run/test-security-release /run/test-security-mkfs.erofs*
info "exposure: $helper $helper_exposure"
assert_at_most 5.0 "$helper_exposure" "exposure of the layer unpacker"
manager_caps=$(status_field "$(unit_property cocoon-manager.service MainPID)" CapBnd)
# CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_NET_ADMIN: no unpacking rights
assert_eq 000000000000100f "$manager_caps" "CapBnd of the manager"
assert_eq yes "$(unit_property cocoon-manager.service RestrictSUIDSGID)" "RestrictSUIDSGID= of the manager"

info "a graceful stop still works from inside the sandbox (QMP, ACPI power button)"
cocoonctl vm stop sec >/dev/null
assert_contains "$(cocoonctl vm logs sec)" "COCOON-POWERBUTTON" "vm logs after stop"
cocoonctl vm rm --force sec other >/dev/null
info "ok"

#!/usr/bin/env bash
# test-vm-create-checks.sh: Create refuses what cannot work with InvalidConfiguration naming the field: an
# empty image, memory that is not whole MiB, more memory than the host has, more storage than the state
# file system has free; nothing is left behind.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null

# refused PARAMETERS-JSON FIELD: a raw Create gets InvalidConfiguration with that field
refused() {
        local reply
        reply=$(varlink_raw_call io.cocoon.VM.Create "$1")
        assert_contains "$reply" '"error":"io.cocoon.VM.InvalidConfiguration"' "error for $1"
        assert_contains "$reply" "\"field\":\"$2\"" "field for $1"
}

mib=$((1 << 20))
host_ram=$(($(getconf _PHYS_PAGES) * $(getconf PAGESIZE))) # what the manager reads (sysconf)
free_bytes=$(($(stat -f -c '%a * %S' /var/lib/cocoon)))

info "image: \"\" names the image field (was io.cocoon.System)"
refused '{"image":""}' image
info "memory: whole MiB only (QEMU would round down), at most the host's RAM"
refused "{\"image\":\"guest\",\"memory\":$((256 * mib + 4096))}" memory
refused "{\"image\":\"guest\",\"memory\":$(((host_ram / mib + 1024) * mib))}" memory
info "storage: at most what the state file system has free"
refused "{\"image\":\"guest\",\"storage\":$(((free_bytes / mib + 1024) * mib))}" storage
refused '{"image":"guest","storage":-1}' storage
refused '{"image":"guest","cpu":4294967297}' cpu
info "nothing left behind; a sane create still works"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after refused creates"
assert_eq "" "$(ls /var/lib/cocoon/vms)" "VM directories after refused creates"
cocoonctl vm create guest --name ok --memory 128M --storage 64M >/dev/null
cocoonctl vm rm ok >/dev/null
info "ok"

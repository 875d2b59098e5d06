#!/usr/bin/env bash
# test-cow-disk.sh: COW disks come from a per-size template in /var/lib/cocoon/cache: every VM's disk is a
# clean, sparse ext4 with a UUID of its own, concurrent creates share one template, and the guest mounts it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
PATH=$PATH:/usr/sbin:/sbin

vm_id() { cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
uuid_of() { blkid -p -s UUID -o value "$1"; }
assert_clean_sparse_ext4() { # assert_clean_sparse_ext4 DISK SIZE_BYTES
        e2fsck -fn "$1" >/dev/null 2>&1 || fail "$1 is not a clean ext4: $(e2fsck -fn "$1" 2>&1 | tail -n 3)"
        assert_eq "$2" "$(stat -c %s "$1")" "size of $1"
        # An empty ext4 of 64 MiB allocates a few hundred KiB; a written-out one all of it.
        [ $(($(stat -c %b "$1") * 512)) -lt $(($2 / 8)) ] || fail "$1 is not sparse: $(du -k "$1")"
        assert_eq 600 "$(stat -c %a "$1")" "mode of $1"
}

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null

info "two VMs of one size: two clean sparse disks, two UUIDs, one template"
cocoonctl vm create guest --name one --memory 128M --storage 64M >/dev/null
cocoonctl vm create guest --name two --memory 128M --storage 64M >/dev/null
one=/var/lib/cocoon/vms/$(vm_id one)/cow.raw
two=/var/lib/cocoon/vms/$(vm_id two)/cow.raw
assert_clean_sparse_ext4 "$one" $((64 << 20))
assert_clean_sparse_ext4 "$two" $((64 << 20))
[ -n "$(uuid_of "$one")" ] || fail "no UUID on $one"
assert_ne "$(uuid_of "$one")" "$(uuid_of "$two")" "the two COW disks' file system UUIDs"
template=/var/lib/cocoon/cache/empty-ext4-v1-$((64 << 20)).raw
[ -f "$template" ] || fail "no template: $(ls -la /var/lib/cocoon/cache 2>&1)"
assert_ne "$(uuid_of "$template")" "$(uuid_of "$one")" "the template's UUID against a copy's"

info "concurrent creates of a new size: all succeed, all differ, one template"
pids=()
for i in 1 2 3 4; do
        cocoonctl vm create guest --name "c$i" --memory 128M --storage 96M >/dev/null &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent vm create failed"; done
uuids=()
for i in 1 2 3 4; do
        disk=/var/lib/cocoon/vms/$(vm_id "c$i")/cow.raw
        assert_clean_sparse_ext4 "$disk" $((96 << 20))
        uuids+=("$(uuid_of "$disk")")
done
assert_eq 4 "$(printf '%s\n' "${uuids[@]}" | sort -u | wc -l)" "distinct UUIDs of four concurrent creates"
assert_eq "empty-ext4-v1-$((96 << 20)).raw empty-ext4-v1-$((64 << 20)).raw" \
        "$(cd /var/lib/cocoon/cache && echo *)" "the cache holds one template per size and nothing else"
cocoonctl vm rm c1 c2 c3 c4 >/dev/null

info "the guest mounts its COW disk"
cocoonctl vm start one >/dev/null
wait_for 90 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$(vm_id one)/console.log"
assert_contains "$(cocoonctl vm logs one)" "COCOON-DISK vdb: (empty ext4)" "the COW disk as the guest sees it"
cocoonctl vm stop --force one >/dev/null
e2fsck -fn "$one" >/dev/null 2>&1 || fail "$one is not clean after the guest used it"

info "a template that is not one (wrong size) is replaced, not copied"
cocoonctl vm rm one two >/dev/null
truncate -s 1M "$template"
cocoonctl vm create guest --name three --memory 128M --storage 64M >/dev/null
assert_clean_sparse_ext4 "/var/lib/cocoon/vms/$(vm_id three)/cow.raw" $((64 << 20))
assert_eq $((64 << 20)) "$(stat -c %s "$template")" "the rebuilt template's size"
cocoonctl vm rm three >/dev/null
info "ok"

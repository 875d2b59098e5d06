#!/usr/bin/env bash
# test-image.sh: io.cocoon.Image through cocoonctl (import, list, inspect, rm), blob sharing, errors, the
# caller's read access, ImageInUse, and io.cocoon.Manager.GarbageCollect (orphan dirs, unused blobs).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BLOBS=/var/lib/cocoon/images/blobs
SRC=/var/lib/cocoon/test-src
mkdir -p "$SRC"
chmod 0755 "$SRC"
head -c 100000 /dev/urandom >"$SRC/vmlinuz"
truncate -s 8M "$SRC/rootfs.ext4"
mkfs.ext4 -q -F "$SRC/rootfs.ext4"
chmod 0644 "$SRC/vmlinuz" "$SRC/rootfs.ext4"
kernel_sha=$(sha256sum "$SRC/vmlinuz" | cut -d' ' -f1)
rootfs_sha=$(sha256sum "$SRC/rootfs.ext4" | cut -d' ' -f1)

# blob_files: the blob store's entries, one per line, sorted.
blob_files() {
        find "$BLOBS" -mindepth 1 -maxdepth 1 -printf "%f\n" 2>/dev/null | sort
}

info "import with a relative kernel path, rootfs and cmdline"
assert_eq "No images found." "$(cocoonctl image list)" "empty image list"
id=$(cd "$SRC" && cocoonctl image import base --kernel vmlinuz --rootfs "$SRC/rootfs.ext4" --cmdline \
        "console=ttyS0")
assert_eq 26 "${#id}" "import prints the image id"

info "list and inspect show it; blobs are named by sha256"
out=$(cocoonctl image list)
assert_contains "$out" "NAME" "image list header"
assert_contains "$out" "base" "image list"
assert_contains "$out" "$id" "image list"
out=$(cocoonctl image inspect base)
assert_contains "$out" "\"id\": \"$id\"" "inspect by name"
assert_contains "$out" "\"blob\": \"$kernel_sha\"" "kernel blob"
assert_contains "$out" "\"blob\": \"$rootfs_sha\"" "rootfs blob"
assert_contains "$out" '"cmdline": "console=ttyS0"' "cmdline"
assert_contains "$(cocoonctl image inspect "${id:0:6}")" "\"name\": \"base\"" "inspect by id prefix"
assert_contains "$(cocoonctl image list --json)" "\"name\": \"base\"" "image list --json"
assert_eq "$(printf '%s\n' "$kernel_sha.kernel" "$rootfs_sha.rootfs" | sort)" "$(blob_files)" "blob files"
[ "$(stat -c %a "$BLOBS/$kernel_sha.kernel")" = 444 ] || fail "blob mode is not 0444"

info "the same file under a second name is stored once"
cocoonctl image import copy --kernel "$SRC/vmlinuz" >/dev/null
assert_eq "$(printf '%s\n' "$kernel_sha.kernel" "$rootfs_sha.rootfs" | sort)" "$(blob_files)" \
        "blobs after copy"

info "a duplicate name is NameInUse, exit 1"
rc=0
err=$(cocoonctl image import base --kernel "$SRC/vmlinuz" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of a duplicate import"
assert_contains "$err" "io.cocoon.Image.NameInUse" "duplicate import"

info "a missing kernel is an error and leaves no blob or temporary file"
before=$(blob_files)
rc=0
err=$(cocoonctl image import missing --kernel "$SRC/nope" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of a missing kernel (client side)"
reply=$(varlink_raw_call io.cocoon.Image.Import "{\"name\":\"missing\",\"kernel\":\"$SRC/nope\"}")
assert_contains "$reply" '"error":"io.cocoon.Image.InvalidImage"' "missing kernel (manager side)"
assert_contains "$reply" '"field":"kernel"' "InvalidImage names the field"
reply=$(varlink_raw_call io.cocoon.Image.Import \
        "{\"name\":\"badfs\",\"kernel\":\"$SRC/vmlinuz\",\"rootfs\":\"$SRC/vmlinuz\"}")
assert_contains "$reply" '"field":"rootfs"' "a rootfs that is not ext4"
reply=$(varlink_raw_call io.cocoon.Image.Import "{\"name\":\"rel\",\"kernel\":\"vmlinuz\"}")
assert_contains "$reply" '"error":"io.cocoon.Image.InvalidImage"' "relative path"
assert_eq "$before" "$(blob_files)" "blobs after failed imports"
assert_not_contains "$(cocoonctl image list)" "missing" "image list after a failed import"

info "callers other than root: PermissionDenied unless they may read the file themselves"
rc=0
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups cocoonctl image list 2>&1) || rc=$?
assert_eq 1 "$rc" "image list as nobody"
assert_contains "$err" "io.cocoon.PermissionDenied" "image list as nobody"
useradd --system --no-create-home --gid cocoon cocoon-test-image
# /var/lib/cocoon (0700) is closed to the member, and the manager has PrivateTmp= and ProtectHome=: the
# member's files go to a world-traversable directory the manager sees too.
PUB=/var/lib/cocoon-test-image
mkdir -p "$PUB/private"
chmod 0755 "$PUB"
chmod 0700 "$PUB/private"
cp "$SRC/vmlinuz" "$PUB/vmlinuz"
cp "$SRC/vmlinuz" "$PUB/private/vmlinuz"
echo secret >"$PUB/secret"
chmod 0644 "$PUB/vmlinuz" "$PUB/private/vmlinuz"
chmod 0600 "$PUB/secret"
as_member() {
        setpriv --reuid=cocoon-test-image --regid=cocoon --init-groups "$@"
}
rc=0
err=$(as_member cocoonctl call io.cocoon.Image.Import \
        "{\"name\":\"p1\",\"kernel\":\"$PUB/private/vmlinuz\"}" 2>&1) || rc=$?
assert_eq 1 "$rc" "import from a private directory"
assert_contains "$err" "io.cocoon.PermissionDenied" "import from a private directory"
rc=0
err=$(as_member cocoonctl call io.cocoon.Image.Import \
        "{\"name\":\"p2\",\"kernel\":\"$PUB/secret\"}" 2>&1) || rc=$?
assert_eq 1 "$rc" "import of an unreadable file"
assert_contains "$err" "io.cocoon.PermissionDenied" "import of an unreadable file"
assert_eq "$before" "$(blob_files)" "blobs after refused imports"
as_member cocoonctl image import member --kernel "$PUB/vmlinuz" >/dev/null
assert_contains "$(cocoonctl image list)" "member" "import of a world-readable file by a member"
cocoonctl image rm member >/dev/null

info "rm: by name; a missing image is NoSuchImage"
cocoonctl image rm copy >/dev/null
assert_not_contains "$(cocoonctl image list)" "copy" "image list after rm"
[ -e "$BLOBS/$kernel_sha.kernel" ] || fail "rm deleted a blob another image uses"
rc=0
err=$(cocoonctl image rm copy 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of rm of a missing image"
assert_contains "$err" "io.cocoon.Image.NoSuchImage" "rm of a missing image"

info "gc removes orphan VM directories and unreferenced blobs, keeps referenced ones"
orphan=zzzzzzzzzzzzzzzzzzzzzzzzzz
mkdir -p /var/lib/cocoon/vms/$orphan /var/lib/cocoon/vms/not-an-id
touch /var/lib/cocoon/vms/$orphan/disk.qcow2
stray=$(printf 'stray' | sha256sum | cut -d' ' -f1)
printf 'stray' >"$BLOBS/$stray.kernel"
out=$(cocoonctl gc)
assert_contains "$out" "/var/lib/cocoon/vms/$orphan" "gc output names the orphan directory"
assert_contains "$out" "$stray.kernel" "gc output names the stray blob"
[ ! -e /var/lib/cocoon/vms/$orphan ] || fail "gc left the orphan directory"
[ -d /var/lib/cocoon/vms/not-an-id ] || fail "gc removed a directory that is not named like a VM id"
[ ! -e "$BLOBS/$stray.kernel" ] || fail "gc left the unreferenced blob"
assert_eq "$(printf '%s\n' "$kernel_sha.kernel" "$rootfs_sha.rootfs" | sort)" "$(blob_files)" \
        "blobs after gc"
assert_contains "$(cocoonctl gc --json | tr -d ' \n')" '"removedDirectories":[]' "a second gc finds nothing"

info "a VM pins its image: rm is ImageInUse, gc keeps the blobs"
vm=$(cocoonctl vm create base --name pinned --json | sed -n 's/^  "id": "\(.*\)",$/\1/p')
assert_eq 26 "${#vm}" "vm create prints the VM id"
rc=0
err=$(cocoonctl image rm base 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of rm of an image in use"
assert_contains "$err" "io.cocoon.Image.ImageInUse" "rm of an image in use"
assert_contains "$err" "$vm" "ImageInUse names the VM"
cocoonctl gc >/dev/null
[ -e "$BLOBS/$kernel_sha.kernel" ] || fail "gc removed a blob a VM uses"
cocoonctl vm rm "$vm" >/dev/null

info "rm of the last image deletes its blobs"
cocoonctl image rm base >/dev/null
assert_eq "" "$(blob_files)" "blobs after removing every image"
echo "PASS: test-image.sh"

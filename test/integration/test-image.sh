#!/usr/bin/env bash
# test-image.sh: io.cocoon.Image through cocoonctl (import, list, inspect, rm), blob sharing, errors, files
# passed as descriptors (never opened by path for a non-root caller, symlink races, file types),
# ImageInUse, and io.cocoon.Manager.GarbageCollect (orphan dirs, unused blobs).
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
assert_eq "" "$(cocoonctl image list 2>/dev/null)" "empty image list: nothing on stdout"
assert_eq "No images found." "$(cocoonctl image list 2>&1 >/dev/null)" "empty image list: stderr"
id=$(cd "$SRC" && cocoonctl image import base --kernel vmlinuz --rootfs "$SRC/rootfs.ext4" --cmdline \
        "console=ttyS0")
assert_eq 26 "${#id}" "import prints the image id"

info "list and inspect show it; blobs are named by sha256"
out=$(cocoonctl image list)
assert_contains "$out" "NAME" "image list header"
assert_contains "$out" "base" "image list"
assert_contains "$out" "${id:0:12}" "image list (short id)"
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

info "root may still name paths: opened in its root directory, no symbolic link followed"
ln -sfn "$SRC/vmlinuz" "$SRC/vmlinuz.link"
reply=$(varlink_raw_call io.cocoon.Image.Import "{\"name\":\"viasymlink\",\"kernel\":\"$SRC/vmlinuz.link\"}")
assert_contains "$reply" '"error":"io.cocoon.Image.InvalidImage"' "a path through a symlink"
assert_contains "$reply" '"field":"kernel"' "a path through a symlink"
reply=$(varlink_raw_call io.cocoon.Image.Import "{\"name\":\"rootpath\",\"kernel\":\"$SRC/vmlinuz\"}")
assert_contains "$reply" "\"blob\":\"$kernel_sha\"" "root imports by path"
cocoonctl image rm rootpath >/dev/null
assert_eq "$before" "$(blob_files)" "blobs after the path imports"

# push_fd_call [COMMAND...] -- PARAMS-JSON PATH...: one Import call with PATH... opened (non-blocking,
# read-only) and passed as fds 0, 1, ... the way varlinkctl --push-fd does, run through COMMAND (e.g.
# setpriv as another user); prints the reply.
PUSH_FD_PY='
import json, os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
fds = [os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC) for p in sys.argv[3:]]
call = {"method": "io.cocoon.Image.Import", "parameters": json.loads(sys.argv[2])}
message = json.dumps(call).encode() + b"\0"
if fds:
    socket.send_fds(sock, [message], fds)
else:
    sock.sendall(message)
reply = b""
while not reply.endswith(b"\0"):
    chunk = sock.recv(65536)
    if not chunk:
        break
    reply += chunk
print(reply.rstrip(b"\0").decode())
'
push_fd_call() {
        local cmd=()
        while [ "$1" != -- ]; do
                cmd+=("$1")
                shift
        done
        shift
        "${cmd[@]}" python3 -c "$PUSH_FD_PY" "$COCOON_SOCKET" "$@"
}

info "callers other than root pass their files open; the manager opens no path for them"
rc=0
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups cocoonctl image list 2>&1) || rc=$?
assert_eq 1 "$rc" "image list as nobody"
assert_contains "$err" "io.cocoon.PermissionDenied" "image list as nobody"
useradd --system --no-create-home --gid cocoon --groups users cocoon-test-image
PUB=/var/lib/cocoon-test-image
mkdir -p "$PUB"
chmod 0755 "$PUB"
cp "$SRC/vmlinuz" "$PUB/vmlinuz"
cp "$SRC/rootfs.ext4" "$PUB/rootfs.ext4"
chmod 0644 "$PUB/vmlinuz" "$PUB/rootfs.ext4"
MEMBER=(setpriv --reuid=cocoon-test-image --regid=cocoon --init-groups)
as_member() {
        "${MEMBER[@]}" "$@"
}
as_member cocoonctl image import member --kernel "$PUB/vmlinuz" --rootfs "$PUB/rootfs.ext4" >/dev/null
out=$(cocoonctl image inspect member)
assert_contains "$out" "\"blob\": \"$kernel_sha\"" "a member's import through descriptors"
assert_contains "$out" "\"blob\": \"$rootfs_sha\"" "a member's import through descriptors"
cocoonctl image rm member >/dev/null

info "a member naming paths gets PermissionDenied naming the field, and nothing is stored"
for field in kernel rootfs; do
        params="{\"name\":\"p1\",\"kernel\":\"$PUB/vmlinuz\"}"
        [ $field = rootfs ] && params="{\"name\":\"p1\",\"kernelFileDescriptor\":0,\"rootfs\":\"$PUB/rootfs.ext4\"}"
        reply=$(push_fd_call "${MEMBER[@]}" -- "$params" "$PUB/vmlinuz")
        assert_contains "$reply" '"error":"io.cocoon.PermissionDenied"' "a member naming the $field path"
        assert_contains "$reply" "$field: only root may import a file by path" "the error names $field"
done
assert_eq "$before" "$(blob_files)" "blobs after refused path imports"
assert_fails cocoonctl image inspect p1 2>/dev/null # "p1" may be part of a random id in a list

info "a file the member may not read (0604, group users it is in) is refused by cocoonctl itself"
echo "for the owner and others, not for group users" >"$PUB/users-only"
chown root:users "$PUB/users-only"
chmod 0604 "$PUB/users-only"
rc=0
err=$(as_member cocoonctl image import p2 --kernel "$PUB/users-only" 2>&1) || rc=$?
assert_eq 1 "$rc" "import of a file closed to the member's group"
assert_contains "$err" "Permission denied" "import of a file closed to the member's group"
assert_eq "$before" "$(blob_files)" "blobs after a refused open"
assert_fails cocoonctl image inspect p2 2>/dev/null # "p2" may be part of a random id in a list

info "a directory, a FIFO or a device passed as the kernel is refused naming the field"
mkfifo "$PUB/fifo"
chmod 0666 "$PUB/fifo"
for what in "$PUB" "$PUB/fifo" /dev/null; do
        reply=$(push_fd_call "${MEMBER[@]}" -- '{"name":"p3","kernelFileDescriptor":0}' "$what")
        assert_contains "$reply" '"error":"io.cocoon.Image.InvalidImage"' "kernel fd of $what"
        assert_contains "$reply" '"field":"kernelFileDescriptor"' "kernel fd of $what"
done
reply=$(push_fd_call "${MEMBER[@]}" -- '{"name":"p3","kernelFileDescriptor":1}' "$PUB/vmlinuz")
assert_contains "$reply" '"field":"kernelFileDescriptor"' "an index no fd came with"
reply=$(push_fd_call "${MEMBER[@]}" -- '{"name":"p3","kernelFileDescriptor":0,"initrdFileDescriptor":0}' \
        "$PUB/vmlinuz")
assert_contains "$reply" '"field":"initrdFileDescriptor"' "one fd for two files"
reply=$(push_fd_call -- "{\"name\":\"p3\",\"kernelFileDescriptor\":0,\"kernel\":\"$SRC/vmlinuz\"}" \
        "$SRC/vmlinuz")
assert_contains "$reply" '"field":"kernelFileDescriptor"' "a path and an fd for one file"
reply=$(push_fd_call -- '{"name":"p3"}')
assert_contains "$reply" '"field":"kernelFileDescriptor"' "no kernel at all"
assert_fails cocoonctl image inspect p3 2>/dev/null # "p3" may be part of a random id in a list
assert_eq "$before" "$(blob_files)" "blobs after refused descriptors"

info "a symlink swapped between a readable file and /etc/shadow never gets shadow imported"
shadow_sha=$(sha256sum /etc/shadow | cut -d' ' -f1)
mkdir -p "$PUB/race"
chmod 0755 "$PUB/race"
(
        while :; do
                ln -sfn "$PUB/vmlinuz" "$PUB/race/new" && mv -T "$PUB/race/new" "$PUB/race/kernel"
                ln -sfn /etc/shadow "$PUB/race/new" && mv -T "$PUB/race/new" "$PUB/race/kernel"
        done
) &
swapper=$!
imported=0
for i in $(seq 1 50); do
        # through cocoonctl (it opens the link as the member) and naming the path (the attack run's way)
        if as_member cocoonctl image import "race$i" --kernel "$PUB/race/kernel" >/dev/null 2>&1; then
                imported=$((imported + 1))
                assert_contains "$(cocoonctl image inspect "race$i")" "\"blob\": \"$kernel_sha\"" "race$i"
        fi
        reply=$(push_fd_call "${MEMBER[@]}" -- "{\"name\":\"rawrace$i\",\"kernel\":\"$PUB/race/kernel\"}")
        assert_contains "$reply" '"error":"io.cocoon.PermissionDenied"' "rawrace$i"
done
kill "$swapper"
wait "$swapper" 2>/dev/null || true
info "$imported of 50 imports got the readable file, the others were refused"
[ ! -e "$BLOBS/$shadow_sha.kernel" ] || fail "/etc/shadow was imported"
for f in "$BLOBS"/*; do
        cmp -s "$f" /etc/shadow && fail "a blob holds /etc/shadow's content: $f"
done
assert_not_contains "$(cocoonctl image list)" "rawrace" "images imported by a member naming a path"
for i in $(seq 1 50); do
        cocoonctl image rm "race$i" >/dev/null 2>&1 || true
done

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
# base-copy shares every blob with base, but no VM is created from it: rm must not refuse it (issue 7
# item 3), and the blobs stay for the VM created from base.
cocoonctl image import base-copy --kernel "$SRC/vmlinuz" --rootfs "$SRC/rootfs.ext4" >/dev/null
vm=$(cocoonctl vm create base --name pinned --json | sed -n 's/^  "id": "\(.*\)",$/\1/p')
assert_eq 26 "${#vm}" "vm create prints the VM id"
cocoonctl image rm base-copy >/dev/null || fail "rm of an image sharing blobs with a used one was refused"
assert_not_contains "$(cocoonctl image list)" "base-copy" "image list after rm of base-copy"
assert_eq "$(printf '%s\n' "$kernel_sha.kernel" "$rootfs_sha.rootfs" | sort)" "$(blob_files)" \
        "blobs after rm of an image sharing them with a used one"
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

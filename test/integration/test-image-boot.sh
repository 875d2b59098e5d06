#!/usr/bin/env bash
# test-image-boot.sh: a VM of a pulled OCI image (issue 10). The OCI test guest (test/guest/build.sh: a
# busybox root in three layers, the second whiting out /etc/gone of the first, kernel and initramfs in boot/)
# is pushed by skopeo to Debian's docker-registry on 127.0.0.1 and pulled; `vm run` attaches the layers
# read-only and a COW disk with the kernel command line of the guest contract, and the image's initramfs
# builds the overlay root: the whiteout holds, what the guest writes survives a stop and start. `image rm`
# while the VM exists is refused; the tag pulled again as another image (one without a kernel:
# InvalidConfiguration for a new VM) leaves the VM's blobs pinned through gc; a start with a blob missing or
# truncated fails naming it; `vm rm` and gc free the blobs. A VM of an OCI image without a COW disk is
# InvalidConfiguration too. `image import NAME L0 L1 L2` of the guest's layer tars boots the same way; a layer
# tar with a ../ entry and a truncated gzip one are refused, nothing left.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
[ -f "${OCI_LAYOUT:-}/index.json" ] || fail "no OCI test guest in $guest_env (rebuild: test/guest/build.sh)"

BLOBS=/var/lib/cocoon/images/blobs
PORT=5010
REF=127.0.0.1:$PORT/test/guest:v1
work=$(mktemp -d /var/tmp/test-image-boot.XXXXXX)

mkdir -p "$work/storage"
cat >"$work/config.yml" <<EOC
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$PORT
EOC
systemd-run --quiet --unit=test-registry-boot /usr/bin/docker-registry serve "$work/config.yml"
wait_for 20 curl -sS -o /dev/null "http://127.0.0.1:$PORT/v2/"

json_get() { # json_get EXPR: EXPR (Python, over the JSON document d on stdin)
        python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
vm_field() { cocoonctl vm inspect "$1" | json_get "d.get('$2', '')"; } # vm_field REF FIELD
console() { cat "/var/log/cocoon/vms/$id/console.log" 2>/dev/null; }
console_has() { console | grep -q -- "$1"; }
stopped() { [ "$(vm_field "$vm" state)" = stopped ]; }

info "push the OCI test guest with skopeo and pull it"
skopeo copy --quiet --dest-tls-verify=false "oci:$OCI_LAYOUT:guest" "docker://$REF" >/dev/null
cocoonctl image pull --insecure "$REF" >/dev/null
read -r -a layers <<<"$(cocoonctl image inspect "$REF" |
        json_get '" ".join(x["blob"] for x in d["layers"])')"
assert_eq 3 "${#layers[@]}" "layers of the pulled image"
kernel=$(cocoonctl image inspect "$REF" | json_get 'd["kernel"]["blob"]')

err=$(cocoonctl --json vm create "$REF" --name nocow --storage 0 2>&1) &&
        fail "a VM of an OCI image without a COW disk"
assert_contains "$err" '"field":"storage"' "a VM of an OCI image without a COW disk"

info "vm run: the layers read-only (base first), the COW disk, the command line of the guest contract"
id=$(cocoonctl vm run "$REF" --memory 256M --storage 64M)
# The default name: the reference's last path component, no tag (a VM name has no '/' or ':').
vm=guest-${id:0:8}
assert_eq "$vm" "$(vm_field "$id" name)" "the default name of a VM of $REF"
storage=$(cocoonctl vm inspect "$vm" | python3 -c 'import json,sys
for s in json.load(sys.stdin)["storageConfigs"]:
    print(s["role"], s["serial"], s["readOnly"], s["path"])')
assert_eq "layer cocoon-layer0 True $BLOBS/${layers[0]}.erofs
layer cocoon-layer1 True $BLOBS/${layers[1]}.erofs
layer cocoon-layer2 True $BLOBS/${layers[2]}.erofs
cow cocoon-cow False /var/lib/cocoon/vms/$id/cow.raw" "$storage" "storage of the VM"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
append="-append console=ttyS0 loglevel=3 boot=cocoon-overlay cocoon.layers=cocoon-layer2,cocoon-layer1,\
cocoon-layer0 cocoon.cow=cocoon-cow clocksource=kvm-clock rw"
assert_contains "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "$append" "QEMU's kernel command line"

info "the guest boots the overlay root: whiteout applied, second layer's file there, machine-id emptied"
wait_for 120 console_has COCOON-GUEST-READY
assert_contains "$(console)" "COCOON-OCI root=overlay boots=1 gone=absent hello=from the second layer \
machine-id-bytes=0" "the guest's report"
# Without NICs the initramfs writes no network configuration (test-image-network has the VMs with NICs).
assert_not_contains "$(console)" "COCOON-OVERLAY-NET" "the initramfs's network report without NICs"
assert_not_contains "$(console)" "COCOON-FILE" "network files the guest has without NICs"

info "image rm while a VM of the image exists: refused (ImageInUse), the blobs stay"
err=$(cocoonctl image rm "$REF" 2>&1) && fail "image rm of an image a VM uses"
assert_contains "$err" "ImageInUse" "image rm of an image a VM uses"

info "the tag now names an image without a kernel: pulled again, the VM's blobs stay pinned (gc too)"
mkdir -p "$work/nokernel/blobs/sha256" "$work/root/etc"
echo hi >"$work/root/etc/hi"
tar -C "$work/root" -czf "$work/layer.tgz" .
blob() { # blob FILE: copies FILE into the layout, prints its descriptor's "digest" and "size" members
        local hex
        hex=$(sha256sum "$1" | cut -d ' ' -f 1)
        cp "$1" "$work/nokernel/blobs/sha256/$hex"
        echo "\"digest\":\"sha256:$hex\",\"size\":$(stat -c %s "$1")"
}
diff_id=$(gzip -dc "$work/layer.tgz" | sha256sum | cut -d ' ' -f 1)
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$diff_id" >"$work/config.json"
oci=application/vnd.oci.image
printf '{"schemaVersion":2,"mediaType":"%s",%s,%s}' "$oci.manifest.v1+json" \
        "$(printf '"config":{"mediaType":"%s",%s}' "$oci.config.v1+json" "$(blob "$work/config.json")")" \
        "$(printf '"layers":[{"mediaType":"%s",%s}]' "$oci.layer.v1.tar+gzip" "$(blob "$work/layer.tgz")")" \
        >"$work/manifest.json"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s,%s}]}' \
        "$(blob "$work/manifest.json")" '"annotations":{"org.opencontainers.image.ref.name":"v1"}' \
        >"$work/nokernel/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/nokernel/oci-layout"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/nokernel:v1" "docker://$REF" >/dev/null
cocoonctl image pull --insecure "$REF" >/dev/null
assert_eq 1 "$(cocoonctl image inspect "$REF" | json_get 'len(d["layers"])')" "layers, pulled again"
cocoonctl gc >/dev/null
for hex in "${layers[@]}"; do
        [ -f "$BLOBS/$hex.erofs" ] || fail "layer $hex.erofs removed while a VM uses it"
done
[ -f "$BLOBS/$kernel.kernel" ] || fail "kernel blob removed while a VM uses it"

info "an OCI image without a kernel: InvalidConfiguration naming image"
err=$(cocoonctl --json vm create "$REF" --name nok 2>&1) && fail "a VM of an OCI image without a kernel"
assert_contains "$err" '"field":"image"' "a VM of an image without a kernel"
assert_contains "$err" "has no kernel" "a VM of an image without a kernel"
assert_eq "$vm" "$(cocoonctl vm list --no-headers | awk '{ print $2 }')" "VMs after the refused create"

info "stop, then a start with a layer missing fails naming it and does not start the VM"
cocoonctl vm stop "$vm" >/dev/null
wait_for 30 stopped
mv "$BLOBS/${layers[1]}.erofs" "$work/aside.erofs"
err=$(cocoonctl vm start "$vm" 2>&1) && fail "a start with a layer blob missing"
assert_contains "$err" "$BLOBS/${layers[1]}.erofs" "the error of a start with a layer missing"
assert_ne active "$(unit_property "cocoon-vm@$id.service" ActiveState)" "the VM unit after that start"
mv "$work/aside.erofs" "$BLOBS/${layers[1]}.erofs"
info "a truncated layer (shorter than its EROFS superblock says) fails the start the same way"
cp -p "$BLOBS/${layers[0]}.erofs" "$work/whole.erofs"
truncate -s -4096 "$BLOBS/${layers[0]}.erofs"
err=$(cocoonctl vm start "$vm" 2>&1) && fail "a start with a truncated layer blob"
assert_contains "$err" "$BLOBS/${layers[0]}.erofs" "the error of a start with a truncated layer"
mv "$work/whole.erofs" "$BLOBS/${layers[0]}.erofs"

info "start again: what the guest wrote on its root is still there (COW disk)"
cocoonctl vm start "$vm" >/dev/null
wait_for 120 console_has "boots=2"
assert_contains "$(console)" "COCOON-OCI root=overlay boots=2 gone=absent" "the guest's report, restarted"

info "vm rm and gc: the blobs only the VM used go"
cocoonctl vm rm --force "$vm" >/dev/null
cocoonctl gc >/dev/null
for hex in "${layers[@]}" "$kernel"; do
        assert_eq "" "$(find "$BLOBS" -name "$hex.*")" "blob $hex after vm rm and gc"
done

info "image import of plain layer tars (the test guest's layer blobs, bottom first): boots like the pull"
read -r -a files <<<"$(python3 - "$OCI_LAYOUT" <<'PY'
import json, sys
lay = sys.argv[1]
index = json.load(open(f"{lay}/index.json"))
m = json.load(open(f"{lay}/blobs/sha256/{index['manifests'][0]['digest'][7:]}"))
print(" ".join(f"{lay}/blobs/sha256/{l['digest'][7:]}" for l in m["layers"]))
PY
)"
assert_eq 3 "${#files[@]}" "layer files of the OCI test guest"
cocoonctl image import from-layers "${files[@]}" >/dev/null
assert_eq "$(for f in "${files[@]}"; do basename "$f"; done | tr '\n' ' ')" \
        "$(cocoonctl image inspect from-layers | json_get '" ".join(x["blob"] for x in d["layers"]) + " "')" \
        "the imported layers, in the order given"
id=$(cocoonctl vm run from-layers --name layers --memory 256M --storage 64M)
vm=layers
wait_for 120 console_has COCOON-GUEST-READY
assert_contains "$(console)" "COCOON-OCI root=overlay boots=1 gone=absent hello=from the second layer" \
        "the guest's report, booted from imported layer tars"
cocoonctl vm rm --force layers >/dev/null

info "layer tars refused: a ../ entry, a truncated gzip; nothing left"
python3 - "$work/dotdot.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as out:
    i = tarfile.TarInfo("../escape"); i.size = 1
    out.addfile(i, io.BytesIO(b"x"))
PY
head -c $(($(stat -c %s "${files[0]}") / 2)) "${files[0]}" >"$work/truncated.tgz"
blobs_before=$(ls "$BLOBS")
err=$(cocoonctl image import dotdot "${files[0]}" "$work/dotdot.tar" 2>&1) && fail "import of a layer with ../"
assert_contains "$err" "InvalidImage" "import of a layer with ../"
err=$(cocoonctl image import truncated "$work/truncated.tgz" "${files[0]}" 2>&1) &&
        fail "import of a truncated gzip layer"
assert_contains "$err" "InvalidImage" "import of a truncated gzip layer"
assert_contains "$err" "layer file 1" "the truncated layer file named"
assert_not_contains "$(cocoonctl image list)" "dotdot" "image list after refused layer imports"
assert_not_contains "$(cocoonctl image list)" "truncated" "image list after refused layer imports"
assert_eq "$blobs_before" "$(ls "$BLOBS")" "blobs after refused layer imports"
assert_eq "" "$(ls -A /var/lib/cocoon/images/tmp)" "temporary files after refused layer imports"

systemctl stop test-registry-boot
rm -rf "$work"
info "ok"

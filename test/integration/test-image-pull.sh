#!/usr/bin/env bash
# test-image-pull.sh: image pull from a real registry (Debian's docker-registry on 127.0.0.1 in the sandbox):
# an OCI image of two layers (the second deletes a file of the first with a whiteout) pushed by skopeo as
# OCI manifest, Docker schema 2 and a two-platform index; the layers become EROFS blobs with the whiteout
# as a 0:0 character device; a spare unpacker waits for the next pull (one gone is replaced); a second
# pull fetches nothing; unknown tags, tampered blobs (also one that
# still unpacks, streamed into the unpacker) and layers with "../" are refused and leave nothing; htpasswd
# basic auth needs auth.json; image import of an OCI layout directory and of a docker archive, plain or
# gzipped, tampered, unsafe, symlinked or truncated ones refused; a bearer token flow (a
# proxy with a token endpoint); a layer too big for the unpacker's memory (UnpackMemory=) unpacked on
# disk after all; the registry going away mid-download or the unpacker crashing leaves nothing (issue 10).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BLOBS=/var/lib/cocoon/images/blobs
TMPDIR_PULL=/var/lib/cocoon/images/tmp
work=$(mktemp -d /var/tmp/test-image-pull.XXXXXX)
PORT=5000
AUTH_PORT=5001
TOKEN_PORT=5002
CUT_PORT=5003

# registry NAME PORT [htpasswd]: a docker-registry unit on 127.0.0.1:PORT with storage in $work/NAME.
registry() {
        local dir=$work/$1 auth=""
        mkdir -p "$dir/storage"
        if [ -n "${3:-}" ]; then
                auth="auth:
  htpasswd:
    realm: cocoon-test
    path: $3"
        fi
        cat >"$dir/config.yml" <<EOC
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$2
$auth
EOC
        systemd-run --quiet --unit="test-registry-$1" /usr/bin/docker-registry serve "$dir/config.yml"
        # any HTTP answer will do (the one with auth says 401)
        wait_for 20 curl -sS -o /dev/null "http://127.0.0.1:$2/v2/"
}

# layout DIR VARIANT: an OCI layout with two layers and an index of amd64 + arm64 manifests.
layout() {
        python3 - "$1" "$2" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile, time
out, variant = sys.argv[1], sys.argv[2]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(data)
    return "sha256:" + h, len(data)
def layer(entries, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            i = tarfile.TarInfo(name); i.mtime = 1000000000
            if kind == "dir":
                i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
            else:
                i.mode = 0o755; i.size = len(data); t.addfile(i, io.BytesIO(data))
    gz = gzip.compress(raw.getvalue(), mtime=0) if compress else raw.getvalue()
    return (blob(gz), "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest(),
            "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else ""))
busybox = open("/bin/busybox", "rb").read()
layers = []
if variant == "base":
    layers.append(layer([("bin/", "dir", b""), ("bin/busybox", "file", busybox), ("etc/", "dir", b""),
                         ("etc/gone", "file", b"deleted by the next layer\n"),
                         ("boot/", "dir", b""), ("boot/vmlinuz-test", "file", b"not really a kernel\n")]))
    layers.append(layer([("etc/", "dir", b""), ("etc/.wh.gone", "file", b""),
                         ("etc/hello", "file", b"hello from layer 2\n")]))
elif variant == "unique":
    layers.append(layer([("data", "file", os.urandom(4096))]))
elif variant == "roomy":
    # 2 MiB of zeros: a few kB compressed, far more than its share of a small memory suggests
    layers.append(layer([("boot/", "dir", b""), ("boot/vmlinuz-roomy", "file", b"roomy kernel\n"),
                         ("zeros", "file", bytes(2 * 1024 * 1024))]))
elif variant == "raw":
    layers.append(layer([("data", "file", os.urandom(4096))], compress=False))
elif variant == "evil":
    layers.append(layer([("../escape", "file", b"x")]))
manifests = []
for arch in ("amd64", "arm64"):
    config = {"architecture": arch, "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]}}
    c = blob(json.dumps(config).encode())
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c[0], "size": c[1]},
         "layers": [{"mediaType": l[2], "digest": l[0][0], "size": l[0][1]} for l in layers]}
    d = blob(json.dumps(m).encode())
    manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d[0],
                      "size": d[1], "platform": {"architecture": arch, "os": "linux"}})
# the layout names the amd64 manifest "amd" and an index of both platforms "multi"
multi = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
mi = blob(json.dumps(multi).encode())
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    dict(manifests[0], annotations={"org.opencontainers.image.ref.name": "amd"}),
    {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": mi[0], "size": mi[1],
     "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}
json.dump(index, open(out + "/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(out + "/oci-layout", "w"))
print(" ".join(l[0][0] for l in layers))
PY
}

push() { # push LAYOUT REF DEST [skopeo options]
        local src=$1 ref=$2 dest=$3
        shift 3
        skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$src:$ref" "docker://$dest" >/dev/null
}

hexes_of() { sed 's/sha256://g'; }

registry plain $PORT
info "an OCI image of two layers, pushed as OCI, as Docker schema 2 and as a two-platform index"
base_layers=$(layout "$work/base" base | hexes_of)
push "$work/base" amd "127.0.0.1:$PORT/test/busybox:oci"
push "$work/base" amd "127.0.0.1:$PORT/test/busybox:v2s2" --format v2s2
push "$work/base" multi "127.0.0.1:$PORT/test/busybox:multi" --all

info "pull the OCI manifest: listed, layers are EROFS blobs, the whiteout a 0:0 character device"
id=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:oci")
assert_ne "" "$id" "id printed by image pull"
json=$(cocoonctl image inspect "$id")
assert_contains "$json" '"type": "oci"' "image inspect: type"
assert_contains "$json" "\"name\": \"127.0.0.1:$PORT/test/busybox:oci\"" "image inspect: normalized name"
assert_contains "$json" '"kernel": {' "image inspect: the kernel found in boot/"
cocoonctl image list | grep -Eq "^oci +127\.0\.0\.1:$PORT/test/busybox:oci " ||
        fail "image list: no oci row for the image: $(cocoonctl image list)"
for hex in $base_layers; do
        [ -f "$BLOBS/$hex.erofs" ] || fail "layer blob $hex.erofs missing: $(ls "$BLOBS")"
        fsck.erofs "$BLOBS/$hex.erofs" >/dev/null || fail "fsck.erofs $hex.erofs"
done
top=$(awk '{ print $2 }' <<<"$base_layers")
# Each layer blob notes its boot files: the bottom one the kernel blob, the top one none.
note() { python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.cocoon.boot").decode())' "$1"; }
kernel=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["kernel"]["blob"])' <<<"$json")
assert_eq "$kernel -" "$(note "$BLOBS/$(awk '{ print $1 }' <<<"$base_layers").erofs")" "boot note of layer 1"
assert_eq "- -" "$(note "$BLOBS/$top.erofs")" "boot note of layer 2"
mkdir "$work/extract"
fsck.erofs --extract="$work/extract" "$BLOBS/$top.erofs" >/dev/null
assert_eq "character special file 0:0" "$(stat -c '%F %t:%T' "$work/extract/etc/gone")" "whiteout in layer 2"
assert_eq "hello from layer 2" "$(cat "$work/extract/etc/hello")" "file of layer 2"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a pull"

info "a spare unpacker waits for the next pull; one found gone is replaced"
spare_units() { systemctl list-units --no-legend --plain --state=activating 'cocoon-unpack-*' | awk '{ print $1 }'; }
wait_for 20 sh -c "systemctl list-units --no-legend --plain --state=activating 'cocoon-unpack-*' | grep -q ."
spare=$(spare_units)
assert_eq 1 "$(wc -l <<<"$spare")" "spare unpackers after a pull"
cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:v2s2" >/dev/null
wait_for 20 sh -c "systemctl list-units --no-legend --plain --state=activating 'cocoon-unpack-*' | grep -qv '^$spare'"
assert_eq 1 "$(spare_units | wc -l)" "spare unpackers after the next pull"
assert_ne "$spare" "$(spare_units)" "the spare after the next pull"
# The spare killed (as if it had exited idle): the next pull starts a unit of its own.
systemctl kill --signal=SIGKILL "$(spare_units)"
wait_for 20 sh -c "! systemctl list-units --no-legend --plain --state=activating 'cocoon-unpack-*' | grep -q ."
fresh=$(layout "$work/fresh" unique | hexes_of)
push "$work/fresh" amd "127.0.0.1:$PORT/test/fresh:v1"
cocoonctl image pull --insecure "127.0.0.1:$PORT/test/fresh:v1" >/dev/null || fail "a pull whose spare unpacker was gone"
[ -f "$BLOBS/$fresh.erofs" ] || fail "the layer of a pull whose spare unpacker was gone"

info "a second pull fetches nothing and keeps the blobs as they are"
before=$(stat -c %Y.%i "$BLOBS/$top.erofs")
assert_eq "$id" "$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:oci")" "id of the second pull"
assert_eq "$before" "$(stat -c %Y.%i "$BLOBS/$top.erofs")" "layer blob after the second pull"

info "Docker schema 2 and the index (amd64 chosen) pull too, sharing the layers"
cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:v2s2" >/dev/null
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PORT/test/busybox:multi" >"$work/multi.json"
assert_contains "$(cat "$work/multi.json")" "image.index" "the pushed index"
cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:multi" >/dev/null
assert_contains "$(cocoonctl image inspect "127.0.0.1:$PORT/test/busybox:multi")" \
        "\"digest\": \"sha256:$(sha256sum <"$work/multi.json" | cut -d ' ' -f 1)\"" "digest of the index"
# Their layers were unpacked by the first pull: the kernel and initrd blobs come with them all the same.
for tag in v2s2 multi; do
        assert_contains "$(cocoonctl image inspect "127.0.0.1:$PORT/test/busybox:$tag")" '"kernel": {' \
                "the kernel of $tag (its layers cached)"
done

info "unknown tag: NoSuchImage with the registry's message"
err=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/busybox:nope" 2>&1) && fail "pull of an unknown tag"
assert_contains "$err" "NoSuchImage" "pull of an unknown tag"
assert_contains "$err" "MANIFEST_UNKNOWN" "pull of an unknown tag"

info "a tampered blob: InvalidImage, nothing kept"
unique=$(layout "$work/unique" unique | hexes_of)
push "$work/unique" amd "127.0.0.1:$PORT/test/unique:v1"
data=$(find "$work/plain/storage" -path "*/blobs/sha256/*/$unique/data")
[ -f "$data" ] || fail "registry storage of $unique not found"
printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
err=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/unique:v1" 2>&1) && fail "pull of a tampered blob"
assert_contains "$err" "InvalidImage" "pull of a tampered blob"
[ ! -e "$BLOBS/$unique.erofs" ] || fail "a tampered layer was kept"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a tampered pull"
assert_not_contains "$(cocoonctl image list)" "test/unique" "image list after a tampered pull"

info "a tampered blob that still unpacks (an uncompressed layer, streamed into the unpacker): InvalidImage, nothing kept"
raw=$(layout "$work/raw" raw | hexes_of)
# --preserve-digests: else skopeo gzips an uncompressed layer on its way to a registry
push "$work/raw" amd "127.0.0.1:$PORT/test/raw:v1" --preserve-digests
data=$(find "$work/plain/storage" -path "*/blobs/sha256/*/$raw/data")
[ -f "$data" ] || fail "registry storage of $raw not found"
# a byte of the file's random content: the tar stays valid, only the digest tells
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(3000); b = f.read(1); f.seek(3000); f.write(bytes([b[0] ^ 0xff]))' "$data"
err=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/raw:v1" 2>&1) && fail "pull of a tampered uncompressed blob"
assert_contains "$err" "InvalidImage" "pull of a tampered uncompressed blob"
assert_contains "$err" "content has digest" "pull of a tampered uncompressed blob"
[ ! -e "$BLOBS/$raw.erofs" ] || fail "a tampered uncompressed layer was kept"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a tampered uncompressed pull"
assert_eq "" "$(find "$BLOBS" -name '.#*')" "temporary blobs after a tampered uncompressed pull"
assert_not_contains "$(cocoonctl image list)" "test/raw" "image list after a tampered uncompressed pull"

info "a layer with ../ entries: InvalidImage"
layout "$work/evil" evil >/dev/null
push "$work/evil" amd "127.0.0.1:$PORT/test/evil:v1"
err=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/evil:v1" 2>&1) && fail "pull of a layer with ../"
assert_contains "$err" "InvalidImage" "pull of a layer with ../"
assert_contains "$err" '".."' "pull of a layer with ../"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after an unsafe layer"

info "basic auth: AuthenticationFailed without credentials, a pull with auth.json"
python3 -W ignore -c "import crypt; print('tester:' + crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH)))" \
        >"$work/htpasswd"
registry auth $AUTH_PORT "$work/htpasswd"
skopeo copy --quiet --dest-tls-verify=false --dest-creds tester:secret "oci:$work/base:amd" \
        "docker://127.0.0.1:$AUTH_PORT/test/private:v1" >/dev/null
err=$(cocoonctl image pull --insecure "127.0.0.1:$AUTH_PORT/test/private:v1" 2>&1) && fail "pull without credentials"
assert_contains "$err" "AuthenticationFailed" "pull without credentials"
# /etc/cocoon is the sandbox's own
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' $AUTH_PORT "$(printf tester:secret | base64)" \
        >/etc/cocoon/auth.json
cocoonctl image pull --insecure "127.0.0.1:$AUTH_PORT/test/private:v1" >/dev/null
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' $AUTH_PORT "$(printf tester:wrong | base64)" \
        >/etc/cocoon/auth.json
err=$(cocoonctl image pull --insecure "127.0.0.1:$AUTH_PORT/test/private:v1" 2>&1) && fail "pull with a wrong password"
assert_contains "$err" "AuthenticationFailed" "pull with a wrong password"

info "[Images] InsecureRegistries= makes --insecure unnecessary for a registry"
err=$(cocoonctl image pull "127.0.0.1:$PORT/test/busybox:oci" 2>&1) && fail "an HTTPS pull from a plain registry"
printf '[Images]\nInsecureRegistries=127.0.0.1:%s\n' $PORT >/etc/cocoon/cocoon.conf
systemctl restart cocoon-manager.service
cocoonctl image pull "127.0.0.1:$PORT/test/busybox:oci" >/dev/null
rm /etc/cocoon/cocoon.conf /etc/cocoon/auth.json

info "image import of an OCI layout directory and of a docker archive (skopeo), both listed"
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/test/busybox:oci" "oci:$work/local" \
        >/dev/null
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/test/busybox:oci" \
        "docker-archive:$work/busybox.tar:test/busybox:latest" >/dev/null
cocoonctl image import from-layout "$work/local" >/dev/null
cocoonctl image import from-archive "$work/busybox.tar" >/dev/null
list=$(cocoonctl image list)
grep -Eq "^oci +from-layout " <<<"$list" || fail "image list: no from-layout: $list"
grep -Eq "^oci +from-archive " <<<"$list" || fail "image list: no from-archive: $list"
assert_contains "$(cocoonctl image inspect from-archive)" '"kernel": {' "the archive's kernel found"
# The layout holds the registry's (compressed) layers: the same blobs as the pull's.
for hex in $base_layers; do
        assert_contains "$(cocoonctl image inspect from-layout)" "\"$hex\"" "layer of from-layout"
done
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after the imports"

info "imports refused: a layer not matching its diff_id, a ../ entry, a symlinked blob"
python3 - "$work/busybox.tar" "$work/tampered.tar" "$work/dotdot.tar" <<'PY'
import sys, tarfile, io
src, tampered, dotdot = sys.argv[1:]
with tarfile.open(src) as t, tarfile.open(tampered, "w") as out:
    done = False
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isfile() else None
        if data and m.name.endswith(".tar") and not done:
            data = data[:600] + bytes([data[600] ^ 1]) + data[601:]
            done = True
        out.addfile(m, io.BytesIO(data) if data is not None else None)
with tarfile.open(dotdot, "w") as out:
    i = tarfile.TarInfo("../escape"); i.size = 1
    out.addfile(i, io.BytesIO(b"x"))
PY
err=$(cocoonctl image import tampered "$work/tampered.tar" 2>&1) && fail "import of a tampered archive"
assert_contains "$err" "InvalidImage" "import of a tampered archive"
assert_contains "$err" "diff_id" "import of a tampered archive"
err=$(cocoonctl image import dotdot "$work/dotdot.tar" 2>&1) && fail "import of an archive with ../"
assert_contains "$err" "InvalidImage" "import of an archive with ../"
cp -a "$work/local" "$work/symlinked"
config=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' \
        "$work/symlinked/index.json")
mv "$work/symlinked/blobs/sha256/$config" "$work/manifest-elsewhere"
ln -s "$work/manifest-elsewhere" "$work/symlinked/blobs/sha256/$config"
err=$(cocoonctl image import symlinked "$work/symlinked" 2>&1) && fail "import of a symlinked blob"
assert_contains "$err" "InvalidImage" "import of a symlinked blob"
assert_not_contains "$(cocoonctl image list)" "tampered" "image list after refused imports"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after refused imports"

info "gzipped archives import (docker save | gzip, a gzipped OCI archive); a truncated one leaves nothing"
json_kernel() { python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["blob"])'; }
layers_of() { python3 -c 'import json,sys; print(" ".join(l["blob"] for l in json.load(sys.stdin)["layers"]))'; }
gzip -c "$work/busybox.tar" >"$work/busybox.tar.gz"
cocoonctl image import from-gz "$work/busybox.tar.gz" >/dev/null
# The same uncompressed layers as the plain archive's: the same EROFS blobs.
assert_eq "$(cocoonctl image inspect from-archive | layers_of)" "$(cocoonctl image inspect from-gz | layers_of)" \
        "layers of the gzipped docker archive"
# Its layers were unpacked for from-archive already: the boot files come from what their blobs remember.
assert_eq "$(cocoonctl image inspect from-archive | json_kernel)" "$(cocoonctl image inspect from-gz | json_kernel)" \
        "the gzipped archive's kernel (its layers cached)"
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/test/busybox:oci" \
        "oci-archive:$work/busybox-oci.tar" >/dev/null
gzip "$work/busybox-oci.tar"
cocoonctl image import from-oci-gz "$work/busybox-oci.tar.gz" >/dev/null
assert_eq "$(cocoonctl image inspect from-layout | layers_of)" \
        "$(cocoonctl image inspect from-oci-gz | layers_of)" "layers of the gzipped OCI archive"
blobs_before=$(ls "$BLOBS")
head -c $(($(stat -c %s "$work/busybox.tar.gz") / 2)) "$work/busybox.tar.gz" >"$work/truncated.tar.gz"
err=$(cocoonctl image import truncated "$work/truncated.tar.gz" 2>&1) && fail "import of a truncated gzip"
assert_contains "$err" "InvalidImage" "import of a truncated gzip"
assert_contains "$err" "$work/truncated.tar.gz" "the truncated file named"
assert_contains "$err" "gzip" "the truncated gzip stream said"
assert_not_contains "$(cocoonctl image list)" "truncated" "image list after a truncated gzip"
assert_eq "$blobs_before" "$(ls "$BLOBS")" "blobs after a truncated gzip"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a truncated gzip"

# proxy PORT MODE: a proxy in front of the plain registry, logging to $work/proxy-MODE.log. token: every
# registry request needs "Bearer <token>" (a 401 with a Bearer challenge otherwise), and /token hands the
# token out; cut: blob downloads stop half-way and the connection drops (the registry going away).
proxy() {
        cat >"$work/proxy.py" <<'PY'
import http.client, http.server, sys, threading
listen, upstream, mode, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
TOKEN = "test-token-1234"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def note(self, what):
        with open(log, "a") as f: f.write(what + "\n")
    def setup(self):
        super().setup()
        self.note("connection")
    def do_GET(self):
        head = self.command == "HEAD"
        self.note("request " + self.path)
        if self.path.startswith("/token"):
            self.note("token " + self.path)
            body = ('{"token": "%s"}' % TOKEN).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers()
            if not head: self.wfile.write(body)
            return
        if mode == "token" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.note("401 " + self.path)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:%d/token",service="test"' % listen)
            self.send_header("Content-Length", "0"); self.end_headers()
            return
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        h = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization", "connection")}
        c.request(self.command, self.path, headers=h)
        r = c.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length") if head else str(len(body)))
        self.end_headers()
        if head:
            return
        if mode == "cut" and "/blobs/" in self.path and len(body) > 1024:
            # the registry goes away mid-download: half the blob, then the connection drops
            self.note("cut " + self.path)
            self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)
    do_HEAD = do_GET
http.server.ThreadingHTTPServer(("127.0.0.1", listen), H).serve_forever()
PY
        systemd-run --quiet --unit="test-proxy-$2" python3 "$work/proxy.py" "$1" $PORT "$2" "$work/proxy-$2.log"
        wait_for 20 curl -sS -o /dev/null "http://127.0.0.1:$1/v2/"
}

info "bearer token flow: a 401 with a Bearer challenge, the token fetched for the repository, then a pull"
proxy $TOKEN_PORT token
cocoonctl image pull --insecure "127.0.0.1:$TOKEN_PORT/test/busybox:oci" >/dev/null
assert_contains "$(cat "$work/proxy-token.log")" "401 /v2/test/busybox/manifests/oci" "the challenge"
assert_contains "$(cat "$work/proxy-token.log")" "scope=repository%3Atest%2Fbusybox%3Apull" "the token request"
assert_contains "$(cocoonctl image list)" "127.0.0.1:$TOKEN_PORT/test/busybox:oci" "image list after the pull"
# Connections are kept between requests: the challenge, the token, the manifest, the config and the
# layers (two threads at most at once) need fewer connections than requests.
requests=$(grep -c '^request ' "$work/proxy-token.log")
connections=$(grep -c '^connection$' "$work/proxy-token.log")
info "token flow: $requests requests on $connections connections"
[ "$requests" -ge 5 ] || fail "too few requests logged: $requests"
[ "$connections" -le 3 ] || fail "a connection per request: $connections connections for $requests requests"

info "[Images] UnpackMemory=256K: a layer that does not fit after all is fetched again and unpacked on disk"
roomy=$(layout "$work/roomy" roomy | hexes_of)
push "$work/roomy" amd "127.0.0.1:$PORT/test/roomy:v1"
printf '[Images]\nUnpackMemory=256K\n' >/etc/cocoon/cocoon.conf
systemctl restart cocoon-manager.service
since=$(date '+%Y-%m-%d %H:%M:%S')
cocoonctl image pull --insecure "127.0.0.1:$PORT/test/roomy:v1" >/dev/null
assert_contains "$(journalctl --since "$since" -u 'cocoon-unpack-*' --no-pager -o cat)" \
        "(in memory: trying again on disk)" "the unpacker's log of a layer too big for its memory"
assert_contains "$(cocoonctl image inspect "127.0.0.1:$PORT/test/roomy:v1")" '"kernel": {' \
        "the kernel of a layer unpacked on disk after all"
rm -rf "$work/extract"
fsck.erofs --extract="$work/extract" "$BLOBS/$roomy.erofs" >/dev/null
assert_eq 2097152 "$(stat -c %s "$work/extract/zeros")" "the file that did not fit in memory"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a pull unpacked on disk after all"
rm /etc/cocoon/cocoon.conf
systemctl restart cocoon-manager.service

info "the registry going away mid-download: PullFailed, nothing kept, nothing for gc either"
cut=$(layout "$work/cut" unique | hexes_of)
push "$work/cut" amd "127.0.0.1:$PORT/test/cut:v1"
proxy $CUT_PORT cut
err=$(cocoonctl image pull --insecure "127.0.0.1:$CUT_PORT/test/cut:v1" 2>&1) && fail "a pull cut half-way"
assert_contains "$err" "PullFailed" "a pull cut half-way"
assert_contains "$(cat "$work/proxy-cut.log")" "cut /v2/test/cut/blobs/" "the proxy cut a blob"
[ ! -e "$BLOBS/$cut.erofs" ] || fail "a layer of a cut pull was kept"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a cut pull"
assert_eq "" "$(find "$BLOBS" -name '.#*')" "temporary blobs after a cut pull"
assert_not_contains "$(cocoonctl gc --json)" "$cut" "gc after a cut pull"
systemctl stop test-proxy-token test-proxy-cut

info "the layer unpacker crashing: PullFailed naming its unit, nothing kept"
crash=$(layout "$work/crash" unique | hexes_of)
push "$work/crash" amd "127.0.0.1:$PORT/test/crash:v1"
# No spare started before the crasher is in place: a manager restart lets it go.
systemctl restart cocoon-manager.service
wait_for 20 sh -c "! systemctl list-units --no-legend --plain --state=activating 'cocoon-unpack-*' | grep -q ."
unpacker=$(dirname "$(readlink "/proc/$(unit_property cocoon-manager.service MainPID)/exe")")/cocoon-unpack
printf '#!/bin/sh\nkill -SEGV $$\n' >"$work/crasher"
chmod 755 "$work/crasher"
mount --bind "$work/crasher" "$unpacker"
err=$(cocoonctl image pull --insecure "127.0.0.1:$PORT/test/crash:v1" 2>&1) && fail "a pull whose unpacker crashed"
umount "$unpacker"
assert_contains "$err" "PullFailed" "a pull whose unpacker crashed"
assert_contains "$err" "cocoon-unpack-" "a pull whose unpacker crashed"
[ ! -e "$BLOBS/$crash.erofs" ] || fail "a layer of a crashed unpacker was kept"
assert_eq "" "$(ls -A "$TMPDIR_PULL")" "temporary files after a crashed unpacker"
assert_eq "" "$(find "$BLOBS" -name '.#*')" "temporary blobs after a crashed unpacker"

info "image rm and gc drop the layers nobody uses"
for ref in $(cocoonctl image list -q); do cocoonctl image rm "$ref" >/dev/null; done
cocoonctl gc >/dev/null
assert_eq "" "$(find "$BLOBS" -name '*.erofs')" "layer blobs after removing every image"

systemctl stop test-registry-plain test-registry-auth
rm -rf "$work"
info "ok"

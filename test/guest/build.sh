#!/usr/bin/env bash
# Builds the cocoon test guest from Debian packages that are downloaded, never installed: an uncompressed PVH
# vmlinux, a busybox initramfs, a small ext4 disk and guest.env (KERNEL=, INITRD=, ROOTFS=, CMDLINE=,
# OCI_LAYOUT=). The OCI layout oci/ (tag "guest") is the same guest as an OCI image: a busybox root in three
# layers (the second deletes /etc/gone of the first with a whiteout, the third has boot/vmlinuz-test and
# boot/initrd.img-test) whose initramfs (overlay-init) implements the guest contract of OCI images.
#
# Usage: test/guest/build.sh [OUTDIR]        (default: ${BUILD_DIR:-build}/guest)
# The .debs are kept in ${COCOON_GUEST_CACHE:-OUTDIR/cache}. A rerun with the same package versions and the
# same recipe (this script, init, power-button) does nothing. Only apt needs the network.
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-${BUILD_DIR:-build}/guest}
PATH=$PATH:/usr/sbin:/sbin

# Dependency order matters: there is no modules.dep in the guest, and a module loaded before the ones it
# needs fails with "Unknown symbol" (virtio_ring before virtio, failover before net_failover, ...).
boot_modules=(virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
        virtio_blk virtio_console virtio-rng failover net_failover virtio_net
        vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport button evdev)
# fw_cfg, where the guest reads its network identity again after a clone (init), for VMs with NICs only.
fwcfg_modules=(qemu_fw_cfg)
# ext4 pulls crc32c through the crypto API (a soft dependency modinfo does not list as "depends").
ext4_modules=(crc16 mbcache crc32c_generic jbd2 ext4)
# The OCI initramfs needs disks and the power button only (each insmod costs boot time under TCG), and mounts
# EROFS layers under an overlayfs root (erofs needs libcrc32c, which needs crc32c_generic of the ext4 list).
oci_boot_modules=(virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
        virtio_blk button evdev)
overlay_modules=(libcrc32c erofs overlay)
# Loaded by overlay-init only for a VM with NICs, to find their MACs for the networkd units it writes.
net_modules=(failover net_failover virtio_net)

die() {
        echo "guest/build.sh: $*" >&2
        exit 1
}

# Prints the path of PACKAGE=VERSION's .deb in the cache, downloading it when missing.
fetch_deb() {
        local pkg=$1 version=$2 deb
        local -a apt_opts=(-q)
        for deb in "$cache/${pkg}"_*.deb; do
                [ -f "$deb" ] || continue
                if [ "$(dpkg-deb -f "$deb" Version)" = "$version" ]; then
                        echo "$deb"
                        return 0
                fi
                rm -f "$deb"
        done
        # As root apt drops to _apt for downloads, which may not write to the cache directory.
        [ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
        (cd "$cache" && apt-get "${apt_opts[@]}" download "$pkg=$version") >&2 ||
                die "cannot download $pkg=$version (is the Debian archive reachable?)"
        for deb in "$cache/${pkg}"_*.deb; do
                [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] && echo "$deb" && return 0
        done
        die "apt-get download $pkg=$version left no .deb in $cache"
}

# TSC frequency for tsc_early_khz=: under TCG a microvm guest has no PIT and no CPUID TSC leaf and would
# otherwise spin forever calibrating. The kernel's own calibration beats "cpu MHz", which may follow cpufreq.
host_tsc_khz() {
        local mhz
        mhz=$(dmesg 2>/dev/null |
                sed -n -e 's/.*Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' \
                -e 's/.*tsc: Detected \([0-9.]*\) MHz processor.*/\1/p' | tail -n 1) || mhz=
        [ -n "$mhz" ] || mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)
        [ -n "$mhz" ] || { echo 2100000; return; }
        awk -v m="$mhz" 'BEGIN { printf "%d\n", m * 1000 + 0.5 }'
}

# Extracts the xz payload of a bzImage. Under TCG the bzImage's own decompressor costs seconds per boot;
# --single-stream stops at the end of the stream instead of failing on the bytes the kernel build appends.
extract_vmlinux() {
        local vmlinuz=$1 out=$2 off
        off=$(LC_ALL=C grep -obUaP -m 1 '\xfd7zXZ\x00' "$vmlinuz" | awk -F: 'NR == 1 { print $1 }')
        [ -n "$off" ] || die "no xz payload in $vmlinuz"
        # xz stops reading at the end of the stream, so tail may die of SIGPIPE: only xz's status counts.
        (set +o pipefail; tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream) >"$out" ||
                die "cannot decompress the payload of $vmlinuz"
        [ "$(head -c 5 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c4602 ] ||
                die "the payload of $vmlinuz is not a 64-bit ELF"
}

# build_initramfs KERNEL_ROOT BUSYBOX_ROOT WORK_DIR OUT INIT [OVERLAY]: with OVERLAY the overlay modules too.
build_initramfs() {
        local kroot=$1 bbroot=$2 root=$3 out=$4 init=$5 overlay=${6:-} m ko applet
        local -a boot=("${boot_modules[@]}")
        [ -z "$overlay" ] || boot=("${oci_boot_modules[@]}")
        local -a modules=("${boot[@]}" "${ext4_modules[@]}")
        [ -z "$overlay" ] || modules+=("${overlay_modules[@]}" "${net_modules[@]}")
        [ -n "$overlay" ] || modules+=("${fwcfg_modules[@]}")
        mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,mnt,etc/acpi/PWRF,lib/modules}
        ln -s bin "$root/sbin"
        install -m 0755 "$bbroot/bin/busybox" "$root/bin/busybox"
        for applet in $("$root/bin/busybox" --list); do
                [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
        done
        for m in "${modules[@]}"; do
                ko=$(find "$kroot/lib/modules/$abi" -name "$m.ko" -print -quit)
                [ -n "$ko" ] || die "module $m.ko is not in $kernel_pkg"
                install -m 0644 "$ko" "$root/lib/modules/$m.ko"
        done
        printf '%s\n' "${boot[@]}" >"$root/etc/modules-boot"
        printf '%s\n' "${ext4_modules[@]}" >"$root/etc/modules-ext4"
        [ -z "$overlay" ] || printf '%s\n' "${overlay_modules[@]}" >"$root/etc/modules-overlay"
        [ -z "$overlay" ] || printf '%s\n' "${net_modules[@]}" >"$root/etc/modules-net"
        [ -n "$overlay" ] || printf '%s\n' "${fwcfg_modules[@]}" >"$root/etc/modules-fwcfg"
        install -m 0755 "$init" "$root/init"
        install -m 0755 "$srcdir/power-button" "$root/etc/acpi/PWRF/00000080"
        # The kernel opens /dev/console for init before anything is mounted. Without root we cannot create
        # the nodes; /init then reopens the console from devtmpfs.
        if [ "$(id -u)" -eq 0 ]; then
                mknod -m 0600 "$root/dev/console" c 5 1
                mknod -m 0666 "$root/dev/null" c 1 3
        else
                echo "guest/build.sh: not root, initramfs has no /dev/console node" >&2
        fi
        find "$root" -exec touch -h -d @0 {} +
        (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
                gzip -9 -n >"$out"
}

build_rootfs() {
        local dir=$1 out=$2
        mkdir -p "$dir"
        echo "COCOON-ROOTFS-MARKER" >"$dir/cocoon-marker"
        truncate -s 16M "$out"
        mkfs.ext4 -q -F -L cocoon-test -E root_owner=0:0 -d "$dir" "$out"
}

# oci_blob LAYOUT FILE: moves FILE into the layout's blobs, prints "sha256:<hex> <size>".
oci_blob() {
        local hex size
        hex=$(sha256sum "$2" | cut -d ' ' -f 1)
        size=$(stat -c %s "$2")
        mv -f "$2" "$1/blobs/sha256/$hex"
        echo "sha256:$hex $size"
}

# oci_layer LAYOUT DIR: DIR as a gzipped tar layer blob, prints "sha256:<hex> <size> sha256:<diff id>".
oci_layer() {
        local tar=$1/layer.tar diff
        tar -C "$2" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$tar" .
        diff=$(sha256sum "$tar" | cut -d ' ' -f 1)
        gzip -1 -n "$tar"
        echo "$(oci_blob "$1" "$tar.gz") sha256:$diff"
}

# build_oci_layout BUSYBOX_ROOT VMLINUX OCI_INITRD WORK_DIR OUT: the OCI image layout of the OCI test guest,
# written with tar, sha256sum and JSON by hand (no image tool needed), tagged "guest".
build_oci_layout() {
        local bbroot=$1 vmlinux=$2 initrd=$3 work=$4 out=$5 applet l1 l2 l3 config manifest
        mkdir -p "$out/blobs/sha256" "$work"/{base,second,boot}
        local base=$work/base
        mkdir -p "$base"/{bin,sbin,dev,proc,sys,tmp,run,etc/acpi/PWRF}
        install -m 0755 "$bbroot/bin/busybox" "$base/bin/busybox"
        for applet in $("$base/bin/busybox" --list); do
                [ "$applet" = busybox ] || ln -s busybox "$base/bin/$applet"
        done
        install -m 0755 "$srcdir/oci-init" "$base/sbin/init"
        install -m 0755 "$srcdir/power-button" "$base/etc/acpi/PWRF/00000080"
        echo "deleted by the second layer" >"$base/etc/gone"
        echo "0123456789abcdef0123456789abcdef" >"$base/etc/machine-id"
        # The second layer: an OCI whiteout of /etc/gone, and a file of its own.
        mkdir -p "$work/second/etc"
        : >"$work/second/etc/.wh.gone"
        echo "from the second layer" >"$work/second/etc/hello"
        mkdir -p "$work/boot/boot"
        cp "$vmlinux" "$work/boot/boot/vmlinuz-test"
        cp "$initrd" "$work/boot/boot/initrd.img-test"
        find "$work"/{base,second,boot} -exec touch -h -d @0 {} +
        read -r -a l1 <<<"$(oci_layer "$out" "$base")"
        read -r -a l2 <<<"$(oci_layer "$out" "$work/second")"
        read -r -a l3 <<<"$(oci_layer "$out" "$work/boot")"
        printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/sbin/init"]},'`
                `'"rootfs":{"type":"layers","diff_ids":["%s","%s","%s"]}}' "${l1[2]}" "${l2[2]}" "${l3[2]}" \
                >"$out/config.json"
        read -r -a config <<<"$(oci_blob "$out" "$out/config.json")"
        local layer='{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}'
        local config_type=application/vnd.oci.image.config.v1+json
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'`
                `"\"config\":{\"mediaType\":\"$config_type\",\"digest\":\"%s\",\"size\":%s},"`
                `"\"layers\":[$layer,$layer,$layer]}" \
                "${config[@]}" "${l1[@]:0:2}" "${l2[@]:0:2}" "${l3[@]:0:2}" >"$out/manifest.json"
        read -r -a manifest <<<"$(oci_blob "$out" "$out/manifest.json")"
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['`
                `'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,'`
                `'"annotations":{"org.opencontainers.image.ref.name":"guest"}}]}' "${manifest[@]}" \
                >"$out/index.json"
        echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
}

write_guest_env() {
        local tmp
        tmp=$(mktemp "$outdir/.guest.env.XXXXXX")
        chmod 0644 "$tmp"
        cat >"$tmp" <<EOF
KERNEL=$outdir/vmlinux
INITRD=$outdir/initramfs.cpio.gz
ROOTFS=$outdir/rootfs.ext4
CMDLINE="console=ttyS0 quiet panic=-1 tsc_early_khz=$(host_tsc_khz) cocoon.noshell=1"
OCI_LAYOUT=$outdir/oci
EOF
        if cmp -s "$tmp" "$outdir/guest.env"; then
                rm -f "$tmp"
        else
                mv -f "$tmp" "$outdir/guest.env"
        fi
}

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
cache=${COCOON_GUEST_CACHE:-$outdir/cache}
mkdir -p "$cache"
exec 9>"$outdir/.lock"
flock 9

# One apt-cache call: each one rebuilds apt's package cache here (Debian images disable pkgcache.bin).
# The meta package's Depends names the ABI package (linux-image-<abi>-amd64) and pins its version.
meta=$(apt-cache show --no-all-versions linux-image-amd64 busybox-static 2>/dev/null) || meta=
kernel_dep=$(awk '/^Package: / { p = $2 } p == "linux-image-amd64" && /^Depends:/ { print; exit }' \
        <<<"$meta")
busybox_version=$(awk '/^Package: / { p = $2 } p == "busybox-static" && /^Version:/ { print $2; exit }' \
        <<<"$meta")
[[ $kernel_dep =~ (linux-image-[0-9][^ ,]*) ]] || die "cannot resolve linux-image-amd64 (run apt-get update)"
kernel_pkg=${BASH_REMATCH[1]}
if [[ $kernel_dep =~ $kernel_pkg\ \(=\ ([^\)]+)\) ]]; then
        kernel_version=${BASH_REMATCH[1]}
else
        kernel_version=$(apt-cache show --no-all-versions "$kernel_pkg" 2>/dev/null |
                awk '/^Version:/ { print $2; exit }')
fi
abi=${kernel_pkg#linux-image-}
[ -n "$kernel_version" ] && [ -n "$busybox_version" ] || die "cannot resolve package versions"
recipe=$(cat "$srcdir/build.sh" "$srcdir/init" "$srcdir/power-button" "$srcdir/overlay-init" \
        "$srcdir/oci-init" | sha256sum | cut -c 1-16)
stamp="$kernel_pkg=$kernel_version busybox-static=$busybox_version recipe=$recipe"

outputs=("$outdir/vmlinux" "$outdir/initramfs.cpio.gz" "$outdir/rootfs.ext4" "$outdir/oci/index.json")
uptodate=1
[ "$(cat "$outdir/stamp" 2>/dev/null)" = "$stamp" ] || uptodate=
for f in "${outputs[@]}"; do
        [ -f "$f" ] || uptodate=
done

if [ -z "$uptodate" ]; then
        start=$SECONDS
        kernel_deb=$(fetch_deb "$kernel_pkg" "$kernel_version")
        busybox_deb=$(fetch_deb busybox-static "$busybox_version")
        # Keep only the two .debs in use: the kernel ABI name changes with every security update.
        for f in "$cache"/*.deb; do
                [ "$f" = "$kernel_deb" ] || [ "$f" = "$busybox_deb" ] || rm -f "$f"
        done

        work=$(mktemp -d "$outdir/.work.XXXXXX")
        trap 'rm -rf "$work"' EXIT
        dpkg -x "$kernel_deb" "$work/kernel"
        dpkg -x "$busybox_deb" "$work/busybox"
        extract_vmlinux "$work/kernel/boot/vmlinuz-$abi" "$work/vmlinux"
        build_initramfs "$work/kernel" "$work/busybox" "$work/initramfs" "$work/initramfs.cpio.gz" \
                "$srcdir/init"
        build_rootfs "$work/rootfs" "$work/rootfs.ext4"
        build_initramfs "$work/kernel" "$work/busybox" "$work/oci-initramfs" "$work/oci-initrd.img" \
                "$srcdir/overlay-init" overlay
        build_oci_layout "$work/busybox" "$work/vmlinux" "$work/oci-initrd.img" "$work/oci-work" "$work/oci"

        rm -f "$outdir/stamp"
        rm -rf "$outdir/oci"
        mv -f "$work/vmlinux" "$work/initramfs.cpio.gz" "$work/rootfs.ext4" "$work/oci" "$outdir/"
        echo "$stamp" >"$outdir/stamp"
        echo "guest/build.sh: built $abi guest in $outdir in $((SECONDS - start)) s" >&2
fi

write_guest_env

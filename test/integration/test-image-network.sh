#!/usr/bin/env bash
# test-image-network.sh: the network part of the OCI guest contract (cocoon-behavior.md 7.6, issue 10). The
# OCI test guest (test/guest/build.sh), imported from its OCI layout, runs with one CNI NIC (a bridge +
# host-local conflist of the test's own, two name servers in its result) and another VM with one bridge-mode
# NIC (a bridge of the test's with dnsmasq serving DHCP). The kernel command line has net.ifnames=0,
# cocoon.hostname= and the §3.1 ip= of the CNI NIC; the image's initramfs (overlay-init) writes a networkd
# unit per NIC matched by its MAC, /etc/resolv.conf and /etc/hostname into the overlay root, whose contents
# the guest prints on its console (oci-init); the guest configures its NIC from that unit and answers ping at
# the address `vm inspect` shows (the DHCP one at its lease). Stopped, with a stale unit of a NIC that is gone
# put on its COW disk (debugfs), the CNI guest's next boot has only its own unit again and answers.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
[ -f "${OCI_LAYOUT:-}/index.json" ] || fail "no OCI test guest in $guest_env (rebuild: test/guest/build.sh)"
for p in bridge host-local; do
        [ -x "/usr/lib/cni/$p" ] || fail "CNI plugins not found (tools/setup installs containernetworking-plugins)"
done
command -v dnsmasq >/dev/null || fail "dnsmasq not found (tools/setup installs dnsmasq-base)"

vm_json() { # vm_json REF PYTHON-EXPRESSION-ON-v
        cocoonctl vm inspect "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); print($2)"
}
# console ID [BOOT]: the VM's console from its boot BOOT on (default 1): after BOOT-1 COCOON-GUEST-READY lines
console() {
        tr -d '\r' <"/var/log/cocoon/vms/$1/console.log" 2>/dev/null |
                awk -v b="${2:-1}" 'n >= b - 1 { print } /COCOON-GUEST-READY/ { n++ }'
}
guest_file() { # guest_file ID FILE [BOOT]: FILE as the guest printed it (COCOON-FILE lines of oci-init)
        console "$1" "${3:-1}" | sed -n "s|^COCOON-FILE $2: ||p"
}
ping_once() { # ping_once ADDRESS TIMEOUT: iputils' ping, else busybox's
        if command -v ping >/dev/null; then ping -c 1 -W "$2" "$1"; else busybox ping -c 1 -W "$2" "$1"; fi
}

cfg=$(mktemp -d)
trap 'kill "$dnsmasq_pid" 2>/dev/null; wait "$dnsmasq_pid" 2>/dev/null; rm -rf "$cfg"' EXIT
dnsmasq_pid=

info "a CNI conflist (bridge + host-local, two name servers) and a bridge with DHCP (dnsmasq)"
mkdir -p "$cfg/net.d" "$cfg/bin" "$cfg/ipam"
for p in bridge host-local loopback; do ln -s "/usr/lib/cni/$p" "$cfg/bin/$p"; done
cat >"$cfg/net.d/10-test.conflist" <<EOF
{"cniVersion":"1.0.0","name":"oci-test","plugins":[{"type":"bridge","bridge":"cni1","isGateway":true,
"ipMasq":false,"dns":{"nameservers":["10.89.0.53","10.89.0.54"]},
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.89.0.0/24"}]],"dataDir":"$cfg/ipam"}}]}
EOF
systemctl stop cocoon-manager.service cocoon-manager.socket
mkdir -p /etc/cocoon
printf '[Network]\nConfigDirectory=%s/net.d\nPluginDirectory=%s/bin\n' "$cfg" "$cfg" >/etc/cocoon/cocoon.conf
systemctl start cocoon-manager.socket

ip link add br7 type bridge
ip addr add 10.78.0.1/24 dev br7
ip link set br7 up
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=0 --interface=br7 --bind-interfaces \
        --dhcp-range=10.78.0.50,10.78.0.99,255.255.255.0,1h --dhcp-leasefile="$cfg/leases" \
        --pid-file="$cfg/dnsmasq.pid" --log-facility=- 2>"$cfg/dnsmasq.log" &
dnsmasq_pid=$!

cocoonctl image import oci-guest "$OCI_LAYOUT" >/dev/null

info "vm run --nics 1 (CNI): net.ifnames=0, cocoon.hostname= and ip= on QEMU's command line"
id=$(cocoonctl vm run oci-guest --name web --nics 1 --memory 256M --storage 64M)
ip=$(vm_json web 'v["networkConfigs"][0]["network"]["ip"]')
mac=$(vm_json web 'v["networkConfigs"][0]["mac"]')
[[ $ip =~ ^10\.89\.0\.[0-9]+$ ]] || fail "address $ip is not from the pool"
pid=$(unit_property "cocoon-vm@$id.service" MainPID)
assert_contains "$(tr '\0' ' ' <"/proc/$pid/cmdline")" \
        "cocoon.cow=cocoon-cow clocksource=kvm-clock rw net.ifnames=0 cocoon.hostname=web \
ip=$ip::10.89.0.1:255.255.255.0:web:eth0:off:10.89.0.53:10.89.0.54" "QEMU's kernel command line"

info "the initramfs wrote the networkd unit, resolv.conf and hostname; the guest answers ping at $ip"
wait_for 120 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id/console.log"
assert_contains "$(console "$id")" "COCOON-OVERLAY-NET eth0 $mac Address=$ip/24" "the initramfs's report"
assert_eq "# Written by the initramfs from the kernel's ip= parameters at every boot.
[Match]
MACAddress=$mac

[Network]
Address=$ip/24
Gateway=10.89.0.1
DNS=10.89.0.53
DNS=10.89.0.54" "$(guest_file "$id" /etc/systemd/network/10-cocoon-eth0.network)" "the static NIC's unit"
assert_eq "nameserver 10.89.0.53
nameserver 10.89.0.54" "$(guest_file "$id" /etc/resolv.conf)" "the guest's /etc/resolv.conf"
assert_eq web "$(guest_file "$id" /etc/hostname)" "the guest's /etc/hostname"
assert_contains "$(console "$id")" "COCOON-NET eth0 $ip" "the guest configured its NIC from the unit"
ping_once "$ip" 10 >/dev/null || fail "no ping reply from the OCI guest at $ip"

info "stopped, a stale unit of a NIC that is gone put on the COW disk: the next boot removes it"
cocoonctl vm stop web >/dev/null
stopped() { [ "$(vm_json web 'v["state"]')" = stopped ]; }
wait_for 60 stopped
cow=/var/lib/cocoon/vms/$id/cow.raw
echo "[Match]" >"$cfg/stale"
# The journal first: replayed at the next mount, it would bring back the directory without the new entry.
rc=0
e2fsck -fy "$cow" >/dev/null 2>&1 || rc=$?
[ "$rc" -le 1 ] || fail "e2fsck of the stopped VM's COW disk: status $rc"
debugfs -w -R "write $cfg/stale /upper/etc/systemd/network/10-cocoon-eth9.network" "$cow" >/dev/null 2>&1
debugfs -R "ls /upper/etc/systemd/network" "$cow" 2>/dev/null | grep -q 10-cocoon-eth9.network ||
        fail "the stale unit was not written to the COW disk"
cocoonctl vm start web >/dev/null
ready2() { [ "$(grep -c COCOON-GUEST-READY "/var/log/cocoon/vms/$id/console.log")" -ge 2 ]; }
wait_for 120 ready2
assert_eq "/etc/systemd/network/10-cocoon-eth0.network" \
        "$(console "$id" 2 | sed -n 's|^COCOON-FILE \(/etc/systemd/network/[^:]*\):.*|\1|p' | sort -u)" \
        "the units the guest has after the restart"
assert_eq "Address=$ip/24" "$(guest_file "$id" /etc/systemd/network/10-cocoon-eth0.network 2 | grep "^Address=")" \
        "the unit after the restart"
ping_once "$ip" 10 >/dev/null || fail "no ping reply from the restarted OCI guest at $ip"

info "vm run --nics 1 --bridge br7: a DHCP=yes unit for its MAC, no resolv.conf; the guest's lease answers"
id2=$(cocoonctl vm run oci-guest --name dhcp --nics 1 --bridge br7 --memory 256M --storage 64M)
mac2=$(vm_json dhcp 'v["networkConfigs"][0]["mac"]')
pid2=$(unit_property "cocoon-vm@$id2.service" MainPID)
cmdline2=$(tr '\0' ' ' <"/proc/$pid2/cmdline")
assert_contains "$cmdline2" "rw net.ifnames=0 cocoon.hostname=dhcp " "QEMU's kernel command line"
assert_not_contains "$cmdline2" " ip=" "the kernel command line of a DHCP NIC"
wait_for 120 grep -q COCOON-GUEST-READY "/var/log/cocoon/vms/$id2/console.log"
assert_eq "# Written by the initramfs from the kernel's ip= parameters at every boot.
[Match]
MACAddress=$mac2

[Network]
DHCP=yes" "$(guest_file "$id2" /etc/systemd/network/10-cocoon-eth0.network)" "the DHCP NIC's unit"
assert_eq "" "$(guest_file "$id2" /etc/resolv.conf)" "resolv.conf without name servers"
assert_eq dhcp "$(guest_file "$id2" /etc/hostname)" "the DHCP guest's /etc/hostname"
wait_for 120 grep -q "COCOON-NET eth0 10.78.0." "/var/log/cocoon/vms/$id2/console.log"
addr=$(console "$id2" | sed -n 's/.*COCOON-NET eth0 \(10\.78\.0\.[0-9]*\).*/\1/p' | head -n 1)
grep -q "$mac2 $addr" "$cfg/leases" || fail "dnsmasq has no lease of $addr for $mac2: $(cat "$cfg/leases")"
ping_once "$addr" 10 >/dev/null || fail "no ping reply from the DHCP OCI guest at $addr"

cocoonctl vm rm -f web dhcp >/dev/null
cocoonctl image rm oci-guest >/dev/null
ip link del br7
info "ok"

#!/usr/bin/env bash
# test-network-bridge.sh: bridge-mode NICs. A bridge in the sandbox's own network namespace with dnsmasq
# serving DHCP on it; `vm run --nics 1 --bridge br0` gets a TAP owned by the hypervisor's user on the bridge,
# QEMU a virtio-net device on it and the guest an address by DHCP; stop and rm remove the TAP; a missing
# bridge or a link that is no bridge is InvalidConfiguration naming "bridge", with nothing left behind; a
# hypervisor that dies leaves no TAP, gc removes TAPs no VM uses, a clone gets a TAP and MAC of its own (its
# guest takes the MAC by itself and DHCP leases it an address), and a restore keeps the VM's TAP, on the bridge, and MAC: its guest answers ping again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
command -v dnsmasq >/dev/null || fail "dnsmasq not found (tools/setup installs dnsmasq-base)"

vm_json() { # vm_json REF PYTHON-EXPRESSION-ON-v
        cocoonctl vm inspect "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); print($2)"
}
taps() { ip -o link show type tun 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1; }
# icmp_echo ADDR [INTERVAL]: ICMP echo requests to ADDR (no ping(8) here: a raw socket), one every INTERVAL
# seconds until SIGTERM, then "sent N received M" (exit 0 when any reply came); without INTERVAL one request,
# exit 0 on a reply within 2 s.
icmp_probe=$(mktemp)
cat >"$icmp_probe" <<'PY'
import os, select, signal, socket, struct, sys, time
addr, interval = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, sent, got, stop = os.getpid() & 0xffff, 0, set(), False
def csum(b):
    n = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    n = (n >> 16) + (n & 0xffff)
    return ~(n + (n >> 16)) & 0xffff
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
deadline = time.monotonic() + 2
while not stop:
    h = struct.pack("!BBHHH", 8, 0, 0, ident, sent) + b"cocoon-probe"
    s.sendto(h[:2] + struct.pack("!H", csum(h)) + h[4:], (addr, 0))
    sent += 1
    end = time.monotonic() + (interval or 2)
    while time.monotonic() < end and not stop:
        if not select.select([s], [], [], max(0, end - time.monotonic()))[0]:
            continue
        p = s.recv(2048)
        t, _, _, i, q = struct.unpack("!BBHHH", p[(p[0] & 15) * 4:][:8])
        if t == 0 and i == ident:
            got.add(q)
            if interval is None:
                sys.exit(0)
    if interval is None:
        sys.exit(1)
print("sent %d received %d" % (sent, len(got)))
sys.exit(0 if got else 1)
PY
icmp_echo() { python3 "$icmp_probe" "$@"; }

info "a bridge with DHCP (dnsmasq) on it"
ip link add br0 type bridge
ip addr add 10.77.0.1/24 dev br0
ip link set br0 up
leases=$(mktemp -d)/leases
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=0 --interface=br0 --bind-interfaces \
        --dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h --dhcp-leasefile="$leases" \
        --pid-file="$leases.pid" --log-facility=- 2>"$leases.log" &
dnsmasq_pid=$!
trap 'kill "$dnsmasq_pid" 2>/dev/null; wait "$dnsmasq_pid" 2>/dev/null' EXIT

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null

info "refused: a bridge that does not exist, a link that is no bridge, NICs without a bridge, too many"
before=$(ls /var/lib/cocoon/vms 2>/dev/null | wc -l)
refused() { # refused PARAMETERS-JSON FIELD
        local reply
        reply=$(varlink_raw_call io.cocoon.VM.Create "$1")
        assert_contains "$reply" '"error":"io.cocoon.VM.InvalidConfiguration"' "error for $1"
        assert_contains "$reply" "\"field\":\"$2\"" "field for $1"
}
refused '{"image":"guest","nics":1,"bridge":"nosuchbr"}' bridge
refused '{"image":"guest","bridge":"lo"}' bridge
refused '{"image":"guest","nics":1}' network # CNI mode, and no conflist here
refused '{"image":"guest","nics":9,"bridge":"br0"}' nics
refused '{"image":"guest","nics":-1,"bridge":"br0"}' nics
refused '{"image":"guest","nics":0,"bridge":"br0"}' nics
refused '{"image":"guest","bridge":"br0,vhost=on"}' bridge
refused '{"image":"guest","bridge":"a-name-too-long-for-linux"}' bridge
refused '{"image":"guest","bridge":"../br0"}' bridge
out=$(cocoonctl vm run guest --nics 1 --bridge nosuchbr 2>&1) && fail "vm run on a missing bridge succeeded"
assert_contains "$out" "bridge 'nosuchbr' does not exist" "cocoonctl's error"
assert_eq "$before" "$(ls /var/lib/cocoon/vms 2>/dev/null | wc -l)" "VM directories after the refusals"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after the refusals"
assert_eq "" "$(taps)" "TAPs after the refusals"

info "vm run --nics 1 --bridge br0 --cpu 2: a multiqueue TAP on the bridge, owned by cocoon-vm"
id=$(cocoonctl vm run guest --name net --nics 1 --bridge br0 --cpu 2 --memory 256M --storage 64M)
tap=$(vm_json net 'v["networkConfigs"][0]["tap"]')
mac=$(vm_json net 'v["networkConfigs"][0]["mac"]')
assert_eq "cocoon${id:0:8}0" "$tap" "TAP name"
assert_eq bridge "$(vm_json net 'v["networkConfigs"][0]["backend"]')" "backend"
assert_eq br0 "$(vm_json net 'v["networkConfigs"][0]["bridgeDev"]')" "bridgeDev"
[[ $mac =~ ^[0-9a-f][26ae](:[0-9a-f]{2}){5}$ ]] || fail "MAC $mac is not locally administered unicast"
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP enslaved"
assert_contains "$(ip -d link show "$tap")" "user cocoon-vm" "TAP owner"
assert_contains "$(ip -d link show "$tap")" "multi_queue" "TAP of a 2-vCPU VM"
argv=$(cocoonctl vm debug net --json 2>/dev/null || cocoonctl vm debug net)
assert_contains "$argv" "tap,id=net0,ifname=$tap,script=no,downscript=no,queues=2" "QEMU -netdev"
assert_contains "$argv" "virtio-net-device,netdev=net0,mac=$mac,mq=on" "QEMU -device"
assert_contains "$argv" "net.ifnames=0 cocoon.hostname=net" "kernel command line"
list=$(cocoonctl vm list)
assert_contains "$(head -n 1 <<<"$list")" " MEMORY  IP  CREATED" "vm list has an IP column"
assert_eq "-" "$(awk -v id="${id:0:12}" '$1 == id { print $7 }' <<<"$list")" "IP of a DHCP NIC in vm list"
unit="cocoon-vm@$id.service"
assert_eq no "$(unit_property "$unit" PrivateNetwork)" "PrivateNetwork= of a bridge-mode VM"
assert_contains "$(unit_property "$unit" DeviceAllow)" "/dev/net/tun rw" "DeviceAllow="
assert_eq AF_UNIX "$(unit_property "$unit" RestrictAddressFamilies)" "RestrictAddressFamilies="
# The limit test-security.sh holds VMs without NICs to: the host's network namespace costs little, the
# hypervisor still has no socket but AF_UNIX and no capability.
exposure=$(systemd-analyze security --no-pager "$unit" |
        sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\) .*$/\1/p')
info "exposure of the bridge-mode VM unit: $exposure"
awk -v v="$exposure" 'BEGIN { exit !(v != "" && v <= 2.5) }' || fail "exposure of $unit is $exposure, above 2.5"

info "the guest gets an address from dnsmasq"
wait_for 120 grep -q "COCOON-NET eth0 10.77.0." "/var/log/cocoon/vms/$id/console.log"
addr=$(sed -n 's/.*COCOON-NET eth0 \(10\.77\.0\.[0-9]*\).*/\1/p' "/var/log/cocoon/vms/$id/console.log" |
        head -n 1)
grep -q "$mac $addr" "$leases" || fail "dnsmasq has no lease of $addr for $mac: $(cat "$leases")"
if command -v ping >/dev/null; then
        info "the guest's kernel answers ping on $addr"
        ping -c 1 -W 10 "$addr" >/dev/null || fail "no ping reply from the guest at $addr"
fi

info "vm stop removes the TAP; vm start makes it again"
cocoonctl vm stop --timeout 30 net >/dev/null
assert_eq stopped "$(vm_json net 'v["state"]')" "state after stop"
ip link show "$tap" >/dev/null 2>&1 && fail "TAP $tap left after stop"
cocoonctl vm start net >/dev/null
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP after restart"

# Issue 9 item 1: a hypervisor that dies leaves no TAP behind; its removal runs in the VM's task queue, so
# a start that follows at once is never undone by it.
net_lines() { grep -c "COCOON-NET eth0 10.77.0." "/var/log/cocoon/vms/$id/console.log"; }
more_net_lines() { [ "$(net_lines)" -gt "$1" ]; }
tap_gone() { ! ip link show "$tap"; }
# Stopped (3) or error (6), not stopping (5): a start is refused while the kill's stop is still recorded.
not_running() {
        local rc=0
        cocoonctl vm status net >/dev/null 2>&1 || rc=$?
        [ "$rc" = 3 ] || [ "$rc" = 6 ]
}
info "vm kill -s KILL: state error, the TAP goes; vm start makes it again and the guest asks DHCP again"
wait_for 120 more_net_lines 1
lines=$(net_lines)
cocoonctl vm kill -s KILL net >/dev/null
wait_for 60 tap_gone
assert_eq error "$(vm_json net 'v["state"]')" "state after SIGKILL"
cocoonctl vm start net >/dev/null
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP after the start that followed the kill"
wait_for 120 more_net_lines "$lines"
lines=$(net_lines)
grep -q "$mac " "$leases" || fail "dnsmasq has no lease for $mac: $(cat "$leases")"

info "vm kill -s KILL, then vm start as soon as the VM is not running: the TAP stays made"
cocoonctl vm kill -s KILL net >/dev/null
wait_for 60 not_running
cocoonctl vm start net >/dev/null
assert_eq running "$(vm_json net 'v["state"]')" "state after the quick start"
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP after the quick start"
sleep 1 # a removal wrongly left behind the start would run in this time
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP a second after the quick start"
wait_for 120 more_net_lines "$lines"

# Issue 9 item 2: gc removes TAPs named like ours that no VM uses, and says so.
info "gc removes a TAP of no VM and lists it; the running VM's TAP stays"
ip tuntap add mode tap name cocoonzzzzzzzz0
ip tuntap add mode tap name cocoonzzzzzzzz # not a name of ours: stays
out=$(cocoonctl gc)
assert_contains "$out" "Removed TAP cocoonzzzzzzzz0" "gc's output"
ip link show cocoonzzzzzzzz0 >/dev/null 2>&1 && fail "gc left cocoonzzzzzzzz0"
ip link show cocoonzzzzzzzz >/dev/null 2>&1 || fail "gc removed cocoonzzzzzzzz, not a name of ours"
ip link del cocoonzzzzzzzz
assert_contains "$(ip -d link show "$tap")" "master br0" "the running VM's TAP after gc"
assert_eq running "$(vm_json net 'v["state"]')" "state after gc"
reply=$(varlink_raw_call io.cocoon.Manager.GarbageCollect '{}')
assert_contains "$reply" '"removedLinks":[]' "GarbageCollect's reply with nothing to remove"

# Issue 9 item 3: a clone's NICs have TAPs of its own and new MACs. The resumed guest still uses the
# source's MAC (QEMU's saved device state carries the address in use) until, seeing its link down, it reads
# its NICs from fw_cfg and resets the one whose line changed (the driver rebound loads the clone's MAC, the
# one on QEMU's command line): DHCP then leases it an address (the guest contract, docs/architecture.md).
info "a clone of a bridge-mode VM: its own TAP, a new MAC its guest takes by itself; both get DHCP leases"
sid=$(cocoonctl vm run guest --name shsrc --nics 1 --bridge br0 --memory 256M --storage 64M)
tap=$(vm_json shsrc 'v["networkConfigs"][0]["tap"]')
mac=$(vm_json shsrc 'v["networkConfigs"][0]["mac"]')
wait_for 120 grep -q "COCOON-NET eth0 10.77.0." "/var/log/cocoon/vms/$sid/console.log"
cocoonctl snapshot save shsrc --name netsnap >/dev/null
cid=$(cocoonctl vm clone netsnap --name netclone)
ctap=$(vm_json netclone 'v["networkConfigs"][0]["tap"]')
cmac=$(vm_json netclone 'v["networkConfigs"][0]["mac"]')
assert_eq "cocoon${cid:0:8}0" "$ctap" "the clone's TAP"
assert_ne "$mac" "$cmac" "the clone's MAC"
[[ $cmac =~ ^[0-9a-f][26ae](:[0-9a-f]{2}){5}$ ]] || fail "clone MAC $cmac is not locally administered unicast"
assert_eq br0 "$(vm_json netclone 'v["networkConfigs"][0]["bridgeDev"]')" "the clone's bridge"
assert_eq "$mac" "$(vm_json shsrc 'v["networkConfigs"][0]["mac"]')" "the source's MAC after the clone"
assert_contains "$(ip -d link show "$ctap")" "master br0" "the clone's TAP"
assert_contains "$(ip -d link show "$tap")" "master br0" "the source's TAP beside the clone's"
assert_contains "$(cocoonctl vm debug netclone)" "virtio-net-device,netdev=net0,mac=$cmac" "the clone's -device"
assert_contains "$(cocoonctl vm debug netclone)" "cocoon.hostname=netclone
eth0 mac=$cmac dhcp
" "the clone's fw_cfg item"
clog=/var/log/cocoon/vms/$cid/console.log
wait_for 150 grep -q "COCOON-NET eth0 10.77.0.[0-9]* mac=$cmac" "$clog"
caddr=$(sed -n 's/.*COCOON-NET eth0 \(10\.77\.0\.[0-9]*\) mac=.*/\1/p' "$clog" | tail -n 1)
saddr=$(sed -n 's/.*COCOON-NET eth0 \(10\.77\.0\.[0-9]*\).*/\1/p' "/var/log/cocoon/vms/$sid/console.log" |
        head -n 1)
assert_ne "$saddr" "$caddr" "the clone's address"
grep -q "$cmac " "$leases" || fail "dnsmasq has no lease for the clone's $cmac: $(cat "$leases")"
grep -q "$mac " "$leases" || fail "dnsmasq has no lease for the source's $mac: $(cat "$leases")"
cocoonctl vm rm -f netclone >/dev/null
ip link show "$ctap" >/dev/null 2>&1 && fail "TAP $ctap left after the clone's rm"

# Issue 8: the restored QEMU attaches its own queues to the VM's multiqueue TAP while the old one still
# runs; the old one's detach when it stops. The guest is back at the save, with the address it had then.
info "a restore of a bridge-mode VM: same TAP on the bridge, same MAC, the guest answers ping"
saddr=$(sed -n 's/.*COCOON-NET eth0 \(10\.77\.0\.[0-9]*\).*/\1/p' "/var/log/cocoon/vms/$sid/console.log" |
        head -n 1)
taps_before=$(taps | sort)
# What packets do while both QEMUs have queues on the TAP (a blip is fine): printed, not asserted.
pinglog=$(mktemp)
python3 "$icmp_probe" "$saddr" 0.1 >"$pinglog" 2>&1 &
ping_pid=$!
cocoonctl vm restore shsrc netsnap >/dev/null
assert_eq running "$(vm_json shsrc 'v["state"]')" "state after the restore"
assert_eq "cocoon-vm@$sid-r.service" "$(vm_json shsrc 'v["unit"]')" "unit after the restore"
assert_eq "$tap" "$(vm_json shsrc 'v["networkConfigs"][0]["tap"]')" "TAP after the restore"
assert_eq "$mac" "$(vm_json shsrc 'v["networkConfigs"][0]["mac"]')" "MAC after the restore"
assert_contains "$(ip -d link show "$tap")" "master br0" "TAP enslaved after the restore"
assert_contains "$(cocoonctl vm debug shsrc)" "virtio-net-device,netdev=net0,mac=$mac" \
        "-device after the restore"
assert_eq "$taps_before" "$(taps | sort)" "TAPs after the restore"
wait_for 60 icmp_echo "$saddr"
kill -TERM "$ping_pid"
wait "$ping_pid" || true
info "ICMP echo every 100 ms across the restore: $(cat "$pinglog")"
cocoonctl vm rm -f shsrc >/dev/null
ip link show "$tap" >/dev/null 2>&1 && fail "TAP $tap left after the restored VM's rm"
cocoonctl snapshot rm netsnap >/dev/null
tap=$(vm_json net 'v["networkConfigs"][0]["tap"]')

info "vm rm leaves no TAP"
cocoonctl vm rm -f net >/dev/null
ip link show "$tap" >/dev/null 2>&1 && fail "TAP $tap left after rm"
assert_eq "" "$(taps)" "TAPs after rm"

info "two NICs: two TAPs, eth0 and eth1; a start whose bridge went away fails and leaves no TAP"
ip link add br1 type bridge
ip link set br1 up
id3=$(cocoonctl vm create guest --name two --nics 2 --bridge br1 --memory 256M --storage 64M)
assert_eq "cocoon${id3:0:8}0 cocoon${id3:0:8}1" "$(vm_json two '" ".join(n["tap"] for n in v["networkConfigs"])')" \
        "TAPs of two NICs"
assert_contains "$(cocoonctl vm debug two)" "virtio-net-device,netdev=net1" "second NIC on QEMU's command line"
ip link del br1
out=$(cocoonctl vm start two 2>&1) && fail "start without its bridge succeeded"
assert_contains "$out" "bridge is missing" "start's error"
assert_eq "" "$(taps)" "TAPs after the failed start"
assert_eq "" "$(systemctl list-units --all --no-legend --plain "cocoon-vm@$id3.service")" "unit after it"
info "gc removes a stale TAP of a VM that does not run (through its queue), not its record"
ip tuntap add mode tap name "cocoon${id3:0:8}1"
json=$(cocoonctl gc --json)
assert_contains "$json" "cocoon${id3:0:8}1" "removedLinks"
ip link show "cocoon${id3:0:8}1" >/dev/null 2>&1 && fail "gc left the stale TAP of a failed VM"
assert_eq two "$(vm_json two 'v["name"]')" "the VM after gc"
cocoonctl vm rm -f two >/dev/null

info "a VM without NICs keeps its private network"
id2=$(cocoonctl vm run guest --name nonet --memory 256M --storage 64M)
assert_eq yes "$(unit_property "cocoon-vm@$id2.service" PrivateNetwork)" "PrivateNetwork= without NICs"
assert_not_contains "$(cocoonctl vm debug nonet)" "netdev" "no -netdev without NICs"
cocoonctl vm rm -f nonet >/dev/null
info "ok"

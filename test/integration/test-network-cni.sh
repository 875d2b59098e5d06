#!/usr/bin/env bash
# test-network-cni.sh: CNI-mode NICs. A conflist of the test's own (Debian's bridge plugin with host-local
# IPAM keeping its leases in a temporary directory) in a temporary [Network] ConfigDirectory=, in the
# sandbox's own network namespace. `vm run --nics 1` gets a namespace cocoon-<id> (ip netns), the address
# IPAM granted in its record and on the guest's kernel command line, and the sandbox pings the guest through
# the bridge; a second VM gets another address and namespace; `ip netns del` on a stopped VM is repaired by
# `vm start` with the same address; `vm rm` leaves no namespace, veth or lease. The network helper
# (cocoon-network.service) is one process serving several calls; killed in the middle of an ADD, the call
# fails with NetworkFailed and nothing is left. gc removes a namespace and leases of no VM (through CNI DEL,
# or as files when their conflist is gone), never a running VM's. A clone of a CNI VM gets its own
# namespace, address (CNI ADD), TAP and MAC; the source keeps its own and answers beside it. A chain whose second plugin fails, and an unknown network, fail with
# the plugin's message / InvalidConfiguration naming "network", leaving nothing behind.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
        fail "CNI plugins not found (tools/setup installs containernetworking-plugins)"

vm_json() { # vm_json REF PYTHON-EXPRESSION-ON-v
        cocoonctl vm inspect "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); print($2)"
}
veths() { ip -o link show type veth 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1; }
# iputils' ping, else busybox's (busybox-static is what the test guest is built from).
ping_once() { # ping_once ADDRESS TIMEOUT
        if command -v ping >/dev/null; then ping -c 1 -W "$2" "$1"; else busybox ping -c 1 -W "$2" "$1"; fi
}
cocoon_netns() { ip netns list 2>/dev/null | awk '$1 ~ /^cocoon-/ { print $1 }'; }

info "a conflist (bridge + host-local) and a plugin directory with a plugin that always fails"
cfg=$(mktemp -d)
mkdir -p "$cfg/net.d" "$cfg/bin" "$cfg/ipam"
for p in bridge host-local loopback; do ln -s "/usr/lib/cni/$p" "$cfg/bin/$p"; done
cat >"$cfg/bin/cocoon-fail" <<'EOF'
#!/bin/sh
cat >/dev/null
[ "$CNI_COMMAND" = ADD ] || exit 0
echo '{"cniVersion":"1.0.0","code":999,"msg":"injected failure of the second plugin"}'
exit 1
EOF
chmod 755 "$cfg/bin/cocoon-fail"
# Blocks its ADD until killed, having said so: the network helper is killed under it.
cat >"$cfg/bin/cocoon-hang" <<EOF
#!/bin/sh
cat >/dev/null
[ "\$CNI_COMMAND" = ADD ] || exit 0
touch "$cfg/hanging"
exec sleep 120
EOF
chmod 755 "$cfg/bin/cocoon-hang"
bridge_plugin() { # bridge_plugin SUBNET
        echo '{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"dns":{"nameservers":["10.88.0.53"]},'
        echo '"ipam":{"type":"host-local","ranges":[[{"subnet":"'"$1"'"}]],"dataDir":"'"$cfg/ipam"'"}}'
}
cat >"$cfg/net.d/10-test.conflist" <<EOF
{"cniVersion":"1.0.0","name":"cocoon-test","plugins":[$(bridge_plugin 10.88.0.0/24)]}
EOF
cat >"$cfg/net.d/20-broken.conflist" <<EOF
{"cniVersion":"1.0.0","name":"broken","plugins":[$(bridge_plugin 10.88.0.0/24),{"type":"cocoon-fail"}]}
EOF
cat >"$cfg/net.d/30-hang.conflist" <<EOF
{"cniVersion":"1.0.0","name":"hang","plugins":[$(bridge_plugin 10.88.0.0/24),{"type":"cocoon-hang"}]}
EOF
systemctl stop cocoon-manager.service cocoon-manager.socket
mkdir -p /etc/cocoon
printf '[Network]\nConfigDirectory=%s/net.d\nPluginDirectory=%s/bin\n' "$cfg" "$cfg" >/etc/cocoon/cocoon.conf
systemctl start cocoon-manager.socket

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" \
        >/dev/null

info "refused: an unknown network, a network with a bridge; a failing plugin leaves nothing"
reply=$(varlink_raw_call io.cocoon.VM.Create '{"image":"guest","network":"nosuchnet"}')
assert_contains "$reply" '"error":"io.cocoon.VM.InvalidConfiguration"' "error for an unknown network"
assert_contains "$reply" '"field":"network"' "field for an unknown network"
assert_contains "$reply" "no CNI network 'nosuchnet'" "message for an unknown network"
reply=$(varlink_raw_call io.cocoon.VM.Create '{"image":"guest","network":"cocoon-test","bridge":"br0"}')
assert_contains "$reply" '"field":"network"' "field for network and bridge"
out=$(cocoonctl vm run guest --name broken --network broken --memory 256M --storage 64M 2>&1) &&
        fail "vm run on a failing plugin chain succeeded"
assert_contains "$out" "injected failure of the second plugin" "the plugin's own message"
assert_contains "$out" "NetworkFailed" "the error"
assert_eq "" "$(cocoon_netns)" "namespaces after the failed create"
assert_eq "" "$(veths)" "veths after the failed create"
leases() { find "$cfg/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' -printf '%P\n'; }
assert_eq "" "$(leases)" "leases after it"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after it"

info "the network helper killed in the middle of an ADD: NetworkFailed, and the next helper removes the rest"
cocoonctl vm run guest --name hang --network hang --memory 256M --storage 64M >"$cfg/hang.out" 2>&1 &
hang_pid=$!
wait_for 60 test -e "$cfg/hanging"
assert_contains "$(cocoon_netns)" cocoon- "a namespace while the ADD hangs"
systemctl kill --signal=KILL cocoon-network.service
wait "$hang_pid" && fail "vm run succeeded with its network helper killed"
assert_contains "$(cat "$cfg/hang.out")" "NetworkFailed" "the error"
assert_contains "$(cat "$cfg/hang.out")" "the network helper gave no answer" "the message"
assert_eq "" "$(cocoon_netns)" "namespaces after the helper was killed"
assert_eq "" "$(veths)" "veths after it"
assert_eq "" "$(leases)" "leases after it"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list after it"

info "vm run --nics 1: namespace, address from IPAM, TAP joined to the veth"
id=$(cocoonctl vm run guest --name cni1 --nics 1 --memory 256M --storage 64M)
ns=cocoon-$id
assert_contains "$(cocoon_netns)" "$ns" "ip netns list"
ip=$(vm_json cni1 'v["networkConfigs"][0]["network"]["ip"]')
mac=$(vm_json cni1 'v["networkConfigs"][0]["mac"]')
[[ $ip =~ ^10\.88\.0\.[0-9]+$ ]] || fail "address $ip is not from the pool"
assert_eq cni "$(vm_json cni1 'v["networkConfigs"][0]["backend"]')" "backend"
assert_eq cocoon-test "$(vm_json cni1 'v["config"]["network"]')" "the network recorded"
assert_eq 10.88.0.1 "$(vm_json cni1 'v["networkConfigs"][0]["network"]["gateway"]')" "gateway"
assert_eq "/run/netns/$ns" "$(vm_json cni1 'v["networkConfigs"][0]["netnsPath"]')" "netnsPath"
assert_eq "$mac" "$(ip netns exec "$ns" cat /sys/class/net/eth0/address)" "guest MAC = the veth's"
assert_contains "$(ip netns exec "$ns" ip -d link show tap0)" "user cocoon-vm" "TAP owner"
assert_contains "$(ip netns exec "$ns" tc filter show dev eth0 ingress)" "Redirect to device tap0" "veth -> TAP"
assert_contains "$(ip netns exec "$ns" tc filter show dev tap0 ingress)" "Redirect to device eth0" "TAP -> veth"
[ -e "$cfg/ipam/cocoon-test/$ip" ] || fail "no host-local lease for $ip"
assert_eq "/run/netns/$ns" "$(unit_property "cocoon-vm@$id.service" NetworkNamespacePath)" \
        "NetworkNamespacePath="
assert_eq "['10.88.0.53']" "$(vm_json cni1 'v["networkConfigs"][0]["network"]["dns"]')" "DNS from the result"
assert_contains "$(cocoonctl vm debug cni1)" "ip=$ip::10.88.0.1:255.255.255.0:cni1:eth0:off:10.88.0.53" \
        "the kernel's ip= parameter"
assert_contains "$(cocoonctl vm list)" "$ip" "vm list shows the address"

info "the guest configures $ip and answers ping through the bridge"
wait_for 120 grep -q "COCOON-NET eth0 $ip" "/var/log/cocoon/vms/$id/console.log"
ping_once "$ip" 10 >/dev/null || fail "no ping reply from the guest at $ip"

info "a second VM on the network: another address, a namespace of its own, the same helper process"
id2=$(cocoonctl vm create guest --name cni2 --network cocoon-test --memory 256M --storage 64M)
helper_pid=$(unit_property cocoon-network.service MainPID)
assert_ne 0 "$helper_pid" "the network helper runs"
ip2=$(vm_json cni2 'v["networkConfigs"][0]["network"]["ip"]')
[[ $ip2 =~ ^10\.88\.0\.[0-9]+$ ]] && [ "$ip2" != "$ip" ] || fail "second address $ip2 (first $ip)"
assert_eq 2 "$(cocoon_netns | wc -l)" "namespaces with two VMs"
assert_contains "$(cocoon_netns)" "cocoon-$id2" "the second VM's namespace"
cocoonctl vm rm cni2 >/dev/null
assert_eq "$helper_pid" "$(unit_property cocoon-network.service MainPID)" "the helper's pid after another call"
assert_eq "$ns" "$(cocoon_netns)" "namespaces after removing the second VM"
[ -e "$cfg/ipam/cocoon-test/$ip2" ] && fail "lease of $ip2 left after its VM's rm"

info "gc: a namespace and leases of no VM go (CNI DEL, or the file when the conflist is gone); cni1's stay"
orphan=orphanvm234567abcdefghijkl
ip netns add "cocoon-$orphan"
printf '%s\r\neth0' "$orphan" >"$cfg/ipam/cocoon-test/10.88.0.200"
mkdir -p /var/lib/cni/networks/gone
printf '%s\r\neth0' "$orphan" >/var/lib/cni/networks/gone/10.99.0.5
printf '%s\r\neth0' "$id" >/var/lib/cni/networks/gone/10.99.0.6
out=$(cocoonctl gc)
assert_contains "$out" "Removed network namespace cocoon-$orphan" "gc's output"
assert_contains "$out" "Removed lease $cfg/ipam/cocoon-test/10.88.0.200" "gc's output"
assert_contains "$out" "Removed lease /var/lib/cni/networks/gone/10.99.0.5" "gc's output"
assert_not_contains "$out" "$id" "gc's output"
assert_eq "$ns" "$(cocoon_netns)" "namespaces after gc"
[ -e "$cfg/ipam/cocoon-test/10.88.0.200" ] && fail "the orphan lease is still there"
[ -e /var/lib/cni/networks/gone/10.99.0.5 ] && fail "the orphan lease of a gone network is still there"
[ -e "$cfg/ipam/cocoon-test/$ip" ] || fail "gc removed the lease of running cni1"
[ -e /var/lib/cni/networks/gone/10.99.0.6 ] || fail "gc removed a lease naming cni1"
rm /var/lib/cni/networks/gone/10.99.0.6
assert_contains "$(varlink_raw_call io.cocoon.Manager.GarbageCollect)" \
        '"removedNetworkNamespaces":[],"removedLeases":[]' "GarbageCollect's reply with nothing to remove"

info "a clone of a CNI VM: a namespace, an address, a TAP and a MAC of its own; the source still answers"
cocoonctl snapshot save cni1 --name cnisnap >/dev/null
cid=$(cocoonctl vm clone cnisnap --name cniclone)
cns=cocoon-$cid
cip=$(vm_json cniclone 'v["networkConfigs"][0]["network"]["ip"]')
cmac=$(vm_json cniclone 'v["networkConfigs"][0]["mac"]')
[[ $cip =~ ^10\.88\.0\.[0-9]+$ ]] && [ "$cip" != "$ip" ] || fail "the clone's address $cip (source $ip)"
assert_ne "$mac" "$cmac" "the clone's MAC"
assert_eq "/run/netns/$cns" "$(vm_json cniclone 'v["networkConfigs"][0]["netnsPath"]')" "the clone's netnsPath"
assert_eq "/run/netns/$cns" "$(unit_property "cocoon-vm@$cid.service" NetworkNamespacePath)" \
        "the clone's NetworkNamespacePath="
assert_eq "$cmac" "$(ip netns exec "$cns" cat /sys/class/net/eth0/address)" "the clone's MAC = its veth's"
assert_contains "$(ip netns exec "$cns" tc filter show dev tap0 ingress)" "Redirect to device eth0" \
        "the clone's TAP -> veth"
assert_contains "$(cocoonctl vm debug cniclone)" "mac=$cmac" "the clone's -device"
[ -e "$cfg/ipam/cocoon-test/$cip" ] || fail "no host-local lease for the clone's $cip"
assert_eq "$ip" "$(vm_json cni1 'v["networkConfigs"][0]["network"]["ip"]')" "the source's address"
# The clone's guest resumed with its source's MAC and address; the link flap after the resume makes it read
# its own from fw_cfg, reset its NIC and configure them (the guest contract, docs/architecture.md).
assert_contains "$(cocoonctl vm debug cniclone)" "name=opt/io.cocoon/network,string=cocoon.hostname=cniclone" \
        "the clone's fw_cfg item"
wait_for 60 grep -q "COCOON-NET eth0 $cip mac=$cmac" "/var/log/cocoon/vms/$cid/console.log"
ping_once "$cip" 10 >/dev/null || fail "no ping reply from the clone at its own $cip"
ping_once "$ip" 10 >/dev/null || fail "no ping reply from the source at $ip beside its clone"
# Who answers at which address: each guest at its own, with its own MAC (both answered for $ip before).
ip neigh flush to "$ip"
ping_once "$ip" 10 >/dev/null || fail "no ping reply from the source at $ip after the ARP flush"
assert_contains "$(ip neigh show to "$ip")" "lladdr $mac" "the source's address resolves to its MAC"
assert_contains "$(ip neigh show to "$cip")" "lladdr $cmac" "the clone's address resolves to its MAC"
cocoonctl vm rm -f cniclone >/dev/null

info "a restore of the CNI VM: the restored QEMU takes the same multiqueue TAP; same namespace, MAC, address"
assert_contains "$(ip netns exec "$ns" ip -d link show tap0)" "multi_queue" "the TAP of a QEMU VM"
old_pid=$(unit_property "cocoon-vm@$id.service" MainPID)
cocoonctl vm restore cni1 cnisnap >/dev/null
assert_eq "cocoon-vm@$id-r.service" "$(vm_json cni1 'v["unit"]')" "the restored VM's unit"
assert_ne "$old_pid" "$(unit_property "cocoon-vm@$id-r.service" MainPID)" "the restored QEMU's pid"
assert_eq "/run/netns/$ns" "$(unit_property "cocoon-vm@$id-r.service" NetworkNamespacePath)" \
        "the restored unit's NetworkNamespacePath="
assert_eq "$ip" "$(vm_json cni1 'v["networkConfigs"][0]["network"]["ip"]')" "the address after the restore"
assert_eq "$mac" "$(vm_json cni1 'v["networkConfigs"][0]["mac"]')" "the MAC after the restore"
assert_eq "tap0" "$(ip netns exec "$ns" ls /sys/class/net | grep '^tap' | paste -sd ' ')" "TAPs after the restore"
wait_for 60 ping_once "$ip" 1
cocoonctl snapshot rm cnisnap >/dev/null
assert_eq "$ns" "$(cocoon_netns)" "namespaces after the clone's rm"
[ -e "$cfg/ipam/cocoon-test/$cip" ] && fail "the clone's lease is left after its rm"

info "ip netns del while stopped: vm start sets it up again with the same address"
cocoonctl vm stop --timeout 30 cni1 >/dev/null
ip netns del "$ns"
assert_eq "" "$(cocoon_netns)" "namespaces after ip netns del"
cocoonctl vm start cni1 >/dev/null
assert_contains "$(cocoon_netns)" "$ns" "namespace after start"
assert_eq "$ip" "$(vm_json cni1 'v["networkConfigs"][0]["network"]["ip"]')" "address after the repair"
assert_eq "$(ip netns exec "$ns" cat /sys/class/net/eth0/address)" "$(vm_json cni1 'v["networkConfigs"][0]["mac"]')" \
        "MAC recorded after the repair"
wait_for 120 ping_once "$ip" 1

info "vm rm: no namespace, veth or lease left"
cocoonctl vm rm -f cni1 >/dev/null
assert_eq "" "$(cocoon_netns)" "namespaces after rm"
assert_eq "" "$(veths)" "veths after rm"
assert_eq "" "$(leases)" "leases after rm"
info "ok"

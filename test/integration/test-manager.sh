#!/usr/bin/env bash
# test-manager.sh: the manager's foundation: socket activation, org.varlink.service over raw socat, cocoonctl,
# access control by peer credentials, parameter validation, record loading and the state directory lock.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

info "socket activation: the manager starts on the first connection"
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "service before the first call"
reply=$(varlink_raw_call org.varlink.service.GetInfo)
assert_contains "$reply" '"io.cocoon.VM"' "GetInfo interfaces"
assert_contains "$reply" '"io.cocoon.Manager"' "GetInfo interfaces"
assert_contains "$reply" '"product":"cocoon-manager"' "GetInfo product"
assert_eq active "$(unit_property cocoon-manager.service ActiveState)" "service after the first call"

info "GetInterfaceDescription returns the IDL the manager validates with"
reply=$(varlink_raw_call org.varlink.service.GetInterfaceDescription '{"interface":"io.cocoon.VM"}')
assert_contains "$reply" 'interface io.cocoon.VM' "io.cocoon.VM description"
assert_contains "$reply" 'method Inspect(' "io.cocoon.VM description"
reply=$(varlink_raw_call org.varlink.service.GetInterfaceDescription '{"interface":"io.cocoon.Nope"}')
assert_contains "$reply" '"error":"org.varlink.service.InterfaceNotFound"' "unknown interface"

info "cocoonctl status and an empty vm list"
out=$(cocoonctl status)
assert_contains "$out" "cocoon-manager " "status"
assert_contains "$out" "State directory:   /var/lib/cocoon" "status"
assert_contains "$out" "VMs:               0" "status"
assert_contains "$(cocoonctl status --json)" '"stateDirectory": "/var/lib/cocoon"' "status --json"
assert_eq "No VMs found." "$(cocoonctl vm list 2>&1)" "vm list"
assert_eq "[]" "$(cocoonctl vm list --json | tr -d ' \n')" "vm list --json"

info "errors: one line on stderr naming the Varlink error, non-zero exit"
rc=0
err=$(cocoonctl vm inspect no-such-vm 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of inspect of a missing VM"
assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "stderr lines"
assert_contains "$err" "io.cocoon.VM.NoSuchVM" "inspect of a missing VM"

info "bad parameters get InvalidParameter naming the field"
reply=$(varlink_raw_call io.cocoon.VM.Inspect '{"ref":5}')
assert_contains "$reply" '"error":"org.varlink.service.InvalidParameter"' "ref of the wrong type"
assert_contains "$reply" '"parameter":"ref"' "InvalidParameter names the field"
reply=$(varlink_raw_call io.cocoon.VM.Inspect '{}')
assert_contains "$reply" '"parameter":"ref"' "missing ref"
reply=$(varlink_raw_call io.cocoon.VM.Inspect '{"ref":"x","bogus":1}')
assert_contains "$reply" '"parameter":"bogus"' "unknown field"
reply=$(varlink_raw_call io.cocoon.VM.Nope)
assert_contains "$reply" '"error":"org.varlink.service.MethodNotFound"' "unknown method"
rc=0
err=$(cocoonctl call io.cocoon.VM.Inspect '{"ref":true}' 2>&1) || rc=$?
assert_eq 1 "$rc" "cocoonctl call exit code"
assert_contains "$err" "org.varlink.service.InvalidParameter: invalid parameter 'ref'" "cocoonctl call error"

info "unprivileged callers: org.varlink.service is open, everything else is PermissionDenied"
reply=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        socat -t 5 - UNIX-CONNECT:"$COCOON_SOCKET" < <(printf '%s\0' '{"method":"io.cocoon.VM.List"}') | tr -d '\0')
assert_contains "$reply" '"error":"io.cocoon.PermissionDenied"' "List as nobody"
assert_contains "$reply" '"method":"io.cocoon.VM.List"' "PermissionDenied names the method"
rc=0
err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups cocoonctl vm list 2>&1) || rc=$?
assert_eq 1 "$rc" "cocoonctl as nobody"
assert_contains "$err" "io.cocoon.PermissionDenied" "cocoonctl as nobody"
reply=$(setpriv --reuid=nobody --regid=nogroup --clear-groups cocoonctl call org.varlink.service.GetInfo)
assert_contains "$reply" '"io.cocoon.VM"' "GetInfo as nobody"
info "members of group cocoon may call everything"
useradd --system --no-create-home --gid cocoon cocoon-test-member
reply=$(setpriv --reuid=cocoon-test-member --regid=cocoon --init-groups cocoonctl vm list 2>&1)
assert_eq "No VMs found." "$reply" "vm list as a member of group cocoon"

info "membership is the caller's own groups, not the user database's"
# Listed as a member of cocoon in /etc/group, but the process dropped its supplementary groups.
useradd --system --no-create-home --user-group cocoon-test-listed
gpasswd --add cocoon-test-listed cocoon >/dev/null
cocoon_gid=$(getent group cocoon | cut -d: -f3)
rc=0
err=$(setpriv --reuid=cocoon-test-listed --regid=cocoon-test-listed --clear-groups cocoonctl vm list 2>&1) || rc=$?
assert_eq 1 "$rc" "a listed member without the group in its process"
assert_contains "$err" "io.cocoon.PermissionDenied" "a listed member without the group in its process"
reply=$(setpriv --reuid=cocoon-test-listed --regid=cocoon-test-listed --groups "$cocoon_gid" \
        cocoonctl vm list 2>&1)
assert_eq "No VMs found." "$reply" "the same user holding the group"
# Not listed anywhere, but the process holds the group: the kernel's word counts.
reply=$(setpriv --reuid=nobody --regid=nogroup --groups "$cocoon_gid" cocoonctl vm list 2>&1)
assert_eq "No VMs found." "$reply" "a process holding the group"

info "a second manager on the same state directory refuses to start"
rc=0
err=$(cocoon-manager --listen=/run/cocoon/second.sock 2>&1) || rc=$?
assert_ne 0 "$rc" "second manager exit code"
assert_contains "$err" "Another cocoon-manager owns /var/lib/cocoon" "second manager message"
[ ! -e /run/cocoon/second.sock ] || fail "the refused manager left its socket behind"

info "records are loaded at start; a corrupt one is moved aside and the rest still served"
systemctl stop cocoon-manager.service cocoon-manager.socket
good=aaaaaaaaaaaaaaaaaaaaaaaaaa
bad=bbbbbbbbbbbbbbbbbbbbbbbbbb
mkdir -p /var/lib/cocoon/vms/$good /var/lib/cocoon/vms/$bad
cat > /var/lib/cocoon/vms/$good/vm.json <<JSON
{"id":"$good","name":"kept","backend":"qemu","state":"stopped","config":{"cpu":1,"memory":268435456},
 "storageConfigs":[],"networkConfigs":[],"firstBooted":false,"snapshotIds":[],
 "createdAt":"2026-11-28T10:00:00.000000Z","updatedAt":"2026-11-28T10:00:00.000000Z",
 "runDir":"/run/cocoon/vms/$good","logDir":"/var/log/cocoon/vms/$good","unit":"cocoon-vm@$good.service"}
JSON
echo '{"id": "truncated' > /var/lib/cocoon/vms/$bad/vm.json
systemctl start cocoon-manager.socket
out=$(cocoonctl vm list)
assert_contains "$out" "${good:0:12}" "vm list after restart (short id)"
assert_contains "$out" "kept" "vm list after restart"
assert_contains "$(cocoonctl vm inspect kept)" "\"id\": \"$good\"" "inspect by name"
assert_contains "$(cocoonctl vm inspect aaa)" "\"name\": \"kept\"" "inspect by id prefix"
assert_contains "$(cocoonctl status --json)" '"corruptRecords": 1' "corrupt count"
ls /var/lib/cocoon/vms/$bad/vm.json.corrupt-* >/dev/null || fail "corrupt record not moved aside"
[ ! -e /var/lib/cocoon/vms/$bad/vm.json ] || fail "corrupt record still in place"
journalctl -u cocoon-manager.service --no-pager | grep -q "$bad" || fail "corrupt record not logged"

info "a call with a repeated key or a NUL in a string is a protocol error: dropped unanswered, nothing runs"
# json-c alone keeps the last of two "method" keys, and C strings end at the NUL: both ran Delete once.
raw_message() {
        printf '%s\0' "$1" | socat -t 5 - "UNIX-CONNECT:$COCOON_SOCKET" | tr '\0' '\n'
}
reply=$(raw_message '{"method":"io.cocoon.VM.List","method":"io.cocoon.VM.Delete","parameters":{"refs":["kept"]}}')
assert_eq "" "$reply" "reply to a call with two method keys"
reply=$(raw_message '{"method":"io.cocoon.VM.Delete","parameters":{"refs":["nope"],"refs":["kept"]}}')
assert_eq "" "$reply" "reply to a call with two refs keys"
reply=$(raw_message '{"method":"io.cocoon.VM.Delete\u0000junk","parameters":{"refs":["kept"]}}')
assert_eq "" "$reply" "reply to a call with a NUL in the method"
reply=$(raw_message '{"method":"io.cocoon.VM.Delete","parameters":{"refs":["kept\u0000x"]}}')
assert_eq "" "$reply" "reply to a call with a NUL in a parameter"
assert_contains "$(cocoonctl vm inspect kept)" "\"id\": \"$good\"" "the VM is still there"
[ -e /var/lib/cocoon/vms/$good/vm.json ] || fail "the VM's record was removed"

info "group cocoon created after the manager started is honoured without a restart"
systemctl stop cocoon-manager.service
userdel cocoon-test-member
userdel cocoon-test-listed
groupdel cocoon
cocoonctl vm list >/dev/null # starts the manager without the group
pid=$(unit_property cocoon-manager.service MainPID)
rc=0
err=$(setpriv --reuid=nobody --regid=nogroup --groups 4711 cocoonctl vm list 2>&1) || rc=$?
assert_eq 1 "$rc" "gid 4711 before the group exists"
assert_contains "$err" "io.cocoon.PermissionDenied" "gid 4711 before the group exists"
groupadd --gid 4711 cocoon
member_gets_in() {
        setpriv --reuid=nobody --regid=nogroup --groups 4711 cocoonctl vm list >/dev/null 2>&1
}
wait_for 10 member_gets_in
assert_eq "$pid" "$(unit_property cocoon-manager.service MainPID)" "the same manager process"
groupdel cocoon
member_left() {
        ! member_gets_in
}
wait_for 10 member_left

info "SIGTERM: clean exit"
systemctl stop cocoon-manager.service cocoon-manager.socket
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "service after stop"
assert_eq success "$(unit_property cocoon-manager.service Result)" "service result"
info "ok"

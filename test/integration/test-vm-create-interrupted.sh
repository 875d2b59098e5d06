#!/usr/bin/env bash
# test-vm-create-interrupted.sh: a create cut short by a manager kill does not stay `creating` for 24 h: the
# next manager rolls it back at start (record, disks, directories gone; a log line says so).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

vms=/var/lib/cocoon/vms
manager_pid() { systemctl show -p MainPID --value cocoon-manager.service; }
gone() { # gone ID: no record, no directory
        ! cocoonctl vm inspect "$1" >/dev/null 2>&1 && [ ! -e "$vms/$1" ] && [ ! -e "/var/log/cocoon/vms/$1" ]
}
record_state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$vms/$1/vm.json"; }

cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" --cmdline "$CMDLINE" >/dev/null

info "a record left creating (with its COW disk and log directory) by a killed manager is rolled back at start"
id=$(cocoonctl vm create guest --name cut --memory 128M --storage 64M)
[ -f "$vms/$id/cow.raw" ] || fail "no COW disk"
mkdir -p "/var/log/cocoon/vms/$id"
systemctl stop cocoon-manager.service
python3 - "$vms/$id/vm.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["state"] = "creating"
json.dump(r, open(sys.argv[1], "w"))
PY
cocoonctl status >/dev/null
wait_for 30 gone "$id"
wait_for 10 sh -c "journalctl -u cocoon-manager.service -o cat | grep -q 'VM $id: its create was interrupted'"
info "its name is free again"
cocoonctl vm create guest --name cut --memory 128M --storage 64M >/dev/null
cocoonctl vm rm cut >/dev/null

info "kill -9 while a create runs: the restarted manager leaves nothing creating"
# A big sparse COW disk makes mkfs take a while; half the free space, as Create refuses more than is free.
half_free_mib=$(($(stat -f -c '%a * %S' /var/lib/cocoon) / 1048576 / 2))
(cocoonctl vm create guest --name killed --memory 128M --storage "$((half_free_mib < 204800 ? half_free_mib : 204800))M" \
        >/dev/null 2>&1 || true) &
creator=$!
wait_for 30 sh -c "grep -l '\"name\":\"killed\"' $vms/*/vm.json >/dev/null 2>&1"
kid=$(basename "$(dirname "$(grep -l '"name":"killed"' "$vms"/*/vm.json)")")
kill -9 "$(manager_pid)"
wait "$creator" || true
settled() { # the record is gone with its directories, or it finished before the kill
        if [ -e "$vms/$kid/vm.json" ]; then
                [ "$(record_state "$kid")" != creating ]
        else
                gone "$kid"
        fi
}
cocoonctl status >/dev/null || { sleep 1; cocoonctl status >/dev/null; }
wait_for 30 settled
if [ -e "$vms/$kid/vm.json" ]; then
        info "the create had finished before the kill"
        cocoonctl vm rm killed >/dev/null
else
        info "the interrupted create was rolled back"
fi
assert_eq "" "$(ls "$vms")" "entries of $vms"
info "ok"

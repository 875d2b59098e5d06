# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test/integration/lib.sh: helpers for the integration tests, sourced by test/integration/test-*.sh, which
# run inside tools/sandbox (a private systemd as PID 1).
set -eEuo pipefail

COCOON_SOCKET=${COCOON_SOCKET:-/run/cocoon/io.cocoon.Manager}

# Report the failing command of a test that stops under set -e, with its place.
trap 'on_error $? "$BASH_COMMAND"' ERR

on_error() {
        echo "FAIL: $(test_location): command failed (status $1): $2" >&2
}

# test_location: print file:line of the innermost caller outside this file (the test's line).
test_location() {
        local i

        for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
                if [ "${BASH_SOURCE[i]}" != "${BASH_SOURCE[0]}" ]; then
                        echo "${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}"
                        return
                fi
        done
        echo "${0##*/}"
}

# fail MESSAGE...: stop the test with a message naming the test's file and line.
fail() {
        trap - ERR
        echo "FAIL: $(test_location): $*" >&2
        exit 1
}

# info MESSAGE...: one progress line.
info() {
        echo "-- $*"
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
        if [ "$1" != "$2" ]; then
                fail "${3:-value}: expected '$1', got '$2'"
        fi
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
        if [ "$1" = "$2" ]; then
                fail "${3:-value}: expected anything but '$1'"
        fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
        case $1 in
        *"$2"*) ;;
        *) fail "${3:-output} does not contain '$2'; it is: $1" ;;
        esac
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
        case $1 in
        *"$2"*) fail "${3:-output} contains '$2'; it is: $1" ;;
        *) ;;
        esac
}

# assert_fails COMMAND...: the command must exit non-zero.
assert_fails() {
        if "$@"; then
                fail "expected failure of: $*"
        fi
}

# wait_for TIMEOUT_SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds; fail after the timeout.
# The arguments are expanded once, by the caller: to poll a changing value, pass a function.
wait_for() {
        local timeout=$1 deadline

        shift
        deadline=$((SECONDS + timeout))
        until "$@" >/dev/null 2>&1; do
                if [ "$SECONDS" -ge "$deadline" ]; then
                        fail "timed out after ${timeout} s waiting for: $*"
                fi
                sleep 0.1
        done
}

# unit_property UNIT PROPERTY: print one property of a systemd unit.
unit_property() {
        systemctl show --property="$2" --value -- "$1"
}

# unit_property_is UNIT PROPERTY VALUE: succeed when the unit's property has that value.
unit_property_is() {
        [ "$(unit_property "$1" "$2")" = "$3" ]
}

# wait_for_property TIMEOUT_SECONDS UNIT PROPERTY VALUE: wait until a unit's property has that value.
wait_for_property() {
        local timeout=$1

        shift
        wait_for "$timeout" unit_property_is "$@"
}

# varlink_raw_call METHOD [PARAMETERS-JSON] [FLAGS-JSON]: send one Varlink call to the manager's socket and
# print the reply (the replies of a "more" call one per line). FLAGS-JSON is spliced into the call object,
# e.g. '"more":true'. Uses socat only, so it checks the wire format independently of cocoonctl.
varlink_raw_call() {
        local method=$1 params=${2:-"{}"} flags=${3:-} call

        call="{\"method\":\"$method\",\"parameters\":$params${flags:+,$flags}}"
        printf '%s\0' "$call" | socat -t 5 - "UNIX-CONNECT:$COCOON_SOCKET" | tr '\0' '\n'
}

# ops_json EXPR: EXPR (Python, over the list `ops`) evaluated on `cocoonctl ops --json`, the operations the
# manager has in flight.
ops_json() {
        cocoonctl ops --json | python3 -c "import json,sys; ops=json.load(sys.stdin); print($1)"
}

# ops_count_is N: the manager lists N operations in flight (for wait_for).
ops_count_is() {
        [ "$(ops_json 'len(ops)')" = "$1" ]
}

# deaf_guest_run NAME: imports the test guest as image "guest" and runs a VM NAME that ignores the ACPI power
# button (kernel option cocoon.nopowerbutton=1); sets $id and $vm_unit once the guest's init said so. Needs
# the test guest's variables (guest.env) sourced.
deaf_guest_run() {
        cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
                --cmdline "$CMDLINE" >/dev/null
        id=$(cocoonctl vm run guest --name "$1" --memory 128M --storage 64M --append cocoon.nopowerbutton=1)
        vm_unit=cocoon-vm@$id.service
        wait_for 90 grep -q "COCOON-POWERBUTTON ignored" "/var/log/cocoon/vms/$id/console.log"
}

# graceful_stop_begin NAME TIMEOUT OUT: `vm stop NAME --timeout TIMEOUT` in the background, its output in OUT
# and its pid in $stop_pid; returns once systemd is stopping the unit ($vm_unit).
graceful_stop_begin() {
        cocoonctl vm stop "$1" --timeout "$2" >"$3" 2>&1 &
        # shellcheck disable=SC2034 # the calling test waits for it
        stop_pid=$!
        wait_for 20 unit_property_is "$vm_unit" ActiveState deactivating
}

if [ "${COCOON_SANDBOX:-}" != 1 ]; then
        echo "FAIL: ${0##*/} must run inside tools/sandbox (it starts units on PID 1)" >&2
        exit 1
fi

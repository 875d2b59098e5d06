#!/usr/bin/env bash
# test-vm-console.sh: the serial console end to end on a real guest running a shell: input and output through
# `cocoonctl vm console`, two consoles at once, a terminal session left with the escape sequence, the
# console log through `vm logs` (also --follow until the VM stops), and the log's size cap with one rotated
# generation.
# The commands typed into the guest's shell carry $((...)) for that shell: the console shows the result only
# when the guest ran them, never in the echo of what was typed.
# shellcheck disable=SC2016
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

guest_env=$COCOON_BUILD_DIR/guest/guest.env
[ -f "$guest_env" ] || fail "no test guest at $guest_env (tools/test builds it with test/guest/build.sh)"
# shellcheck disable=SC1090
. "$guest_env"

# The test guest runs an interactive shell on its console unless told not to.
shell_cmdline=${CMDLINE// cocoon.noshell=1/}
assert_not_contains "$shell_cmdline" "cocoon.noshell" "guest command line"

pids=()
cleanup() {
        local pid
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
}
trap cleanup EXIT

# wait_exit TIMEOUT PID: wait until a background job ends; its status is left in $rc.
wait_exit() {
        wait_for "$1" sh -c "! kill -0 $2 2>/dev/null"
        rc=0
        wait "$2" || rc=$?
}

# console_typed REF EXPECT LINE: a `vm console --no-tty` session that types LINE (again every second: the
# guest's shell may not read yet) until EXPECT shows in its output, then ends its input. Its output is left
# in $out, its exit status in $rc. No fixed sleeps: as fast as the guest answers, as slow as it needs.
console_typed() {
        local ref=$1 expect=$2 line=$3 pid i

        rm -f /tmp/typed.in
        mkfifo /tmp/typed.in
        cocoonctl vm console "$ref" --no-tty </tmp/typed.in >/tmp/typed.out &
        pid=$!
        exec 6>/tmp/typed.in
        for ((i = 0; i < 60; i++)); do
                printf '%s\n' "$line" >&6
                if timeout 1 sh -c 'until grep -q "$1" /tmp/typed.out; do sleep 0.1; done' _ "$expect"; then
                        break
                fi
        done
        exec 6>&-
        wait_exit 10 "$pid"
        out=$(cat /tmp/typed.out)
}

vm_state() {
        cocoonctl vm inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

info "a guest with a shell on its console"
cocoonctl image import guest --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$shell_cmdline" >/dev/null
id=$(cocoonctl vm run guest --name con --memory 256M --storage 64M)
log=/var/log/cocoon/vms/$id/console.log
wait_for 60 grep -q "built-in shell" "$log"

info "vm console --no-tty: a command typed in, its output back"
console_typed con CONSOLE-42 'echo CONSOLE-$((6*7))'
assert_eq 0 "$rc" "exit code of vm console at the end of its input"
assert_contains "$out" "CONSOLE-42" "console output"

info "two consoles at once: both see the output of what one of them typed"
mkfifo /tmp/a.in /tmp/b.in
cocoonctl vm console con --no-tty </tmp/a.in >/tmp/a.out &
pid_a=$!
pids+=("$pid_a")
cocoonctl vm console con --no-tty </tmp/b.in >/tmp/b.out &
pid_b=$!
pids+=("$pid_b")
exec 7>/tmp/a.in 8>/tmp/b.in
# Console B attaches on its own time: type until it shows (the result, not the echoed command line).
for ((i = 0; i < 20; i++)); do
        echo 'echo TWO-$((7*8))' >&7
        if timeout 1 sh -c 'until grep -q TWO-56 /tmp/b.out; do sleep 0.1; done'; then
                break
        fi
done
grep -q TWO-56 /tmp/b.out || fail "console B never saw the output: $(cat /tmp/b.out)"
grep -q TWO-56 /tmp/a.out || fail "console A never saw the output: $(cat /tmp/a.out)"
info "the end of their input ends both sessions cleanly"
exec 7>&- 8>&-
wait_exit 10 "$pid_a"
assert_eq 0 "$rc" "exit code of console A"
wait_exit 10 "$pid_b"
assert_eq 0 "$rc" "exit code of console B"
pids=()

info "a terminal session: typed input reaches the guest, Ctrl-] . detaches"
out=$( (sleep 1; printf 'echo TTY-$((5*5))\r'; sleep 2; printf '\035.'; sleep 1) |
        script -qec "cocoonctl vm console con" /dev/null) || fail "terminal session failed: $out"
assert_contains "$out" "Connected to con (escape: ^] .)" "terminal session"
assert_contains "$out" "TTY-25" "terminal session"
assert_contains "$out" "Disconnected from con." "terminal session"
assert_eq running "$(vm_state con)" "state after detaching"

info "vm console without a terminal and without --no-tty: one line, exit 1"
rc=0
err=$(cocoonctl vm console con </dev/null 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of vm console without a terminal"
assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "stderr lines"
assert_contains "$err" "--no-tty" "error of vm console without a terminal"

info "vm logs: the boot and everything typed since"
out=$(cocoonctl vm logs con)
assert_contains "$out" "COCOON-DISK vda: COCOON-ROOTFS-MARKER" "vm logs"
assert_contains "$out" "COCOON-GUEST-READY" "vm logs"
assert_contains "$out" "CONSOLE-42" "vm logs"
assert_contains "$out" "TWO-56" "vm logs"

info "vm logs -n N: the last N lines, as tail -n N of the whole log; -n 0 prints nothing"
cocoonctl vm logs con >/tmp/all.log
for n in 1 3 40; do
        assert_eq "$(tail -n "$n" /tmp/all.log | sha256sum)" "$(cocoonctl vm logs con -n "$n" | sha256sum)" \
                "vm logs -n $n"
done
assert_eq "$(sha256sum </tmp/all.log)" "$(cocoonctl vm logs con --lines 100000 | sha256sum)" \
        "vm logs --lines 100000"
assert_eq "" "$(cocoonctl vm logs con -n 0)" "vm logs -n 0"
rc=0
err=$(cocoonctl vm logs con -n -2 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of vm logs -n -2"
assert_contains "$err" "invalid --lines '-2'" "vm logs -n -2"
info "vm logs --since: the lines logged since then, from its time index"
[ -s "/var/log/cocoon/vms/$id/console.log.idx" ] || fail "no time index next to the console log"
# The earlier output is a second or more older than $since; what is typed now is newer.
sleep 2
since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
sleep 1
console_typed con SINCE-9 'echo SINCE-$((3*3))'
out=$(cocoonctl vm logs con --since "$since")
assert_contains "$out" "SINCE-9" "vm logs --since"
assert_not_contains "$out" "TWO-56" "vm logs --since (older output)"
assert_not_contains "$out" "COCOON-GUEST-READY" "vm logs --since (the boot)"
# The same time in the local form, to the second (which may add what was logged in that second).
local_since=$(date -d "$since" '+%Y-%m-%d %H:%M:%S')
assert_contains "$(cocoonctl vm logs con --since "$local_since")" "SINCE-9" "vm logs --since local time"
out=$(cocoonctl vm logs con --since 10m)
assert_contains "$out" "COCOON-GUEST-READY" "vm logs --since 10m"
assert_contains "$out" "SINCE-9" "vm logs --since 10m"
assert_eq "" "$(cocoonctl vm logs con --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)")" \
        "vm logs --since a time to come"
assert_eq "$(cocoonctl vm logs con --since "$since" | tail -n 1)" \
        "$(cocoonctl vm logs con --since "$since" -n 1)" "vm logs --since with -n 1"
rc=0
err=$(cocoonctl vm logs con --since yesterday 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of vm logs --since yesterday"
assert_contains "$err" "invalid --since 'yesterday'" "vm logs --since yesterday"
err=$(cocoonctl call io.cocoon.VM.Console '{"ref":"con","replay":true,"since":"12:00"}' 2>&1) || rc=$?
assert_contains "$err" "invalid parameter 'since'" "Console with since 12:00"

info "the manager checks lines: not negative, only with replay"
rc=0
err=$(cocoonctl call io.cocoon.VM.Console '{"ref":"con","replay":true,"lines":-1}' 2>&1) || rc=$?
assert_contains "$err" "InvalidParameter" "Console with lines -1"
assert_contains "$err" "invalid parameter 'lines'" "Console with lines -1"
err=$(cocoonctl call io.cocoon.VM.Console '{"ref":"con","lines":5}' 2>&1) || rc=$?
assert_contains "$err" "invalid parameter 'lines'" "Console with lines but no replay"

info "vm console --replay: the end of the log first, then the live console"
cocoonctl vm logs con | tail -n 2 >/tmp/expected.replay
out=$( (sleep 2; echo 'echo REPLAYED-$((8*8))'; sleep 2) | cocoonctl vm console con --no-tty --replay -n 2 |
        tee /tmp/replay.out)
head -c "$(stat -c %s /tmp/expected.replay)" /tmp/replay.out >/tmp/replay.head
cmp -s /tmp/expected.replay /tmp/replay.head ||
        fail "vm console --replay -n 2 did not start with the log's last 2 lines: $(od -c /tmp/replay.out |
                head)"
assert_contains "$out" "REPLAYED-64" "live output after the replay"
info "vm console --replay with input that ends at once: the replay still arrives whole, then the session ends"
cocoonctl vm logs con | tail -n 3 >/tmp/expected.replay
rc=0
timeout 20 cocoonctl vm console con --no-tty --replay -n 3 </dev/null >/tmp/replay.out || rc=$?
assert_eq 0 "$rc" "exit code of vm console --replay with no input"
cmp -s /tmp/expected.replay /tmp/replay.out ||
        fail "vm console --replay -n 3 </dev/null did not print the log's last 3 lines: $(od -c /tmp/replay.out |
                head)"
rc=0
err=$(cocoonctl vm console con --no-tty -n 2 </dev/null 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of vm console -n without --replay"
assert_contains "$err" "--lines needs --replay" "vm console -n without --replay"

info "vm logs --follow: the log, then live output, until the VM stops"
cocoonctl vm logs con --follow >/tmp/follow.out &
pid_f=$!
pids+=("$pid_f")
wait_for 5 grep -q COCOON-GUEST-READY /tmp/follow.out
console_typed con LIVE-81 'echo LIVE-$((9*9))'
wait_for 5 grep -q LIVE-81 /tmp/follow.out
kill -0 "$pid_f" 2>/dev/null || fail "vm logs --follow ended while the VM runs"
cocoonctl vm stop con >/dev/null
wait_exit 10 "$pid_f"
assert_eq 0 "$rc" "exit code of vm logs --follow when the VM stopped"
pids=()
assert_contains "$(cat /tmp/follow.out)" "COCOON-POWERBUTTON" "followed log up to the power-off"
assert_eq 1 "$(grep -c COCOON-GUEST-READY /tmp/follow.out)" "boot lines in the followed log"

info "a stopped VM: its log is still there, its console is not"
assert_contains "$(cocoonctl vm logs con)" "LIVE-81" "vm logs of a stopped VM"
rc=0
err=$(echo | cocoonctl vm console con --no-tty 2>&1 >/dev/null) || rc=$?
assert_eq 1 "$rc" "exit code of vm console of a stopped VM"
assert_contains "$err" "io.cocoon.VM.InvalidState" "vm console of a stopped VM"
cocoonctl vm rm con >/dev/null

info "vm run --console --no-tty: created, started and attached; the whole boot up to the ready line arrives"
mkfifo /tmp/run.in
cocoonctl vm run guest --name runcon --memory 256M --storage 64M --console --no-tty </tmp/run.in \
        >/tmp/run.out 2>/tmp/run.err &
pid_r=$!
pids+=("$pid_r")
exec 7>/tmp/run.in
wait_for 60 grep -q COCOON-GUEST-READY /tmp/run.out
# From the first line on: the kernel's banner precedes the disk check and the ready line.
assert_eq 1 "$(grep -c "COCOON-DISK vda: COCOON-ROOTFS-MARKER" /tmp/run.out)" "the boot in vm run --console"
assert_eq running "$(vm_state runcon)" "state of a VM run with --console"
assert_contains "$(cat /tmp/run.err)" "VM runcon (" "vm run --console on stderr"
run_id=$(cocoonctl vm inspect runcon | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
assert_not_contains "$(head -n 1 /tmp/run.out)" "$run_id" "stdout of vm run --console (the console's)"
wait_for 30 grep -q "built-in shell" /tmp/run.out
echo 'echo RUNCON-$((4*4))' >&7
wait_for 10 grep -q RUNCON-16 /tmp/run.out
exec 7>&-
wait_exit 10 "$pid_r"
assert_eq 0 "$rc" "exit code of vm run --console at the end of its input"
pids=()
assert_eq running "$(vm_state runcon)" "state after the console session ended"
cocoonctl vm rm --force runcon >/dev/null

info "vm run --console without a terminal: refused before anything is created"
rc=0
err=$(cocoonctl vm run guest --name notty --console </dev/null 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of vm run --console without a terminal"
assert_contains "$err" "--no-tty" "vm run --console without a terminal"
assert_not_contains "$(cocoonctl vm list)" "notty" "vm list after a refused vm run --console"
rc=0
err=$(cocoonctl vm run guest --name notty --no-tty 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of vm run --no-tty without --console"
assert_contains "$err" "--no-tty needs --console" "vm run --no-tty without --console"
assert_not_contains "$(cocoonctl vm list)" "notty" "vm list after a refused vm run --no-tty"

info "the console is recorded while the manager is down: after its restart no tick is missing"
cocoonctl image import ticker --kernel "$KERNEL" --initrd "$INITRD" --rootfs "$ROOTFS" \
        --cmdline "$shell_cmdline cocoon.tick=1" >/dev/null
id=$(cocoonctl vm run ticker --name ticks --memory 128M --storage 64M)
# A tick may follow the shell's prompt on the same line.
tick_numbers() { cocoonctl vm logs ticks | sed -n 's/^.*COCOON-TICK \([0-9]*\) up=.*$/\1/p'; }
# Whole outputs, not pipes into grep -q: an early grep exit would fail the pipeline (pipefail).
has_tick() { local t; t=$(tick_numbers); grep -qx "$1" <<<"$t"; }
wait_for 90 has_tick 1
systemctl stop cocoon-manager.service
assert_eq inactive "$(unit_property cocoon-manager.service ActiveState)" "manager after stop"
# A few seconds without a manager; only QEMU is left to record the console. With its spool (a file that
# keeps holes where the relay took the output), also wait for four ticks in it, so that the outage
# certainly spans some.
last=$(sed -n 's/^.*COCOON-TICK \([0-9]*\) up=.*$/\1/p' "/var/log/cocoon/vms/$id/console.log" | tail -n 1)
sleep 5
spool_has_tick() {
        local t
        t=$(tr -d '\0' <"/var/log/cocoon/vms/$id/console.spool")
        grep -q "COCOON-TICK $1 " <<<"$t"
}
if [ -e "/var/log/cocoon/vms/$id/console.spool" ]; then
        wait_for 30 spool_has_tick $((last + 4))
fi
systemctl start cocoon-manager.service
wait_for 30 has_tick $((last + 6))
ticks=$(tick_numbers)
first=$(head -n 1 <<<"$ticks")
assert_eq 0 "$first" "first tick in vm logs"
gaps=$(awk 'NR - 1 != $1 { print "expected " NR - 1 ", got " $1; exit }' <<<"$ticks")
assert_eq "" "$gaps" "tick numbers across the manager's downtime (last before it: $last)"
assert_eq 1 "$(cocoonctl vm logs ticks | grep -c COCOON-GUEST-READY)" "boot lines after the restart"
info "the new manager relays input to the same console"
console_typed ticks AFTER-43 'echo AFTER-$((6*7+1))'
assert_eq 0 "$rc" "exit code of vm console after the manager's restart"
assert_contains "$out" "AFTER-43" "console output after the manager's restart"
cocoonctl vm rm --force ticks >/dev/null

info "ConsoleLogMaxBytes=4K: console.log stays within 4096 bytes, the rest goes to console.log.1"
systemctl stop cocoon-manager.service cocoon-manager.socket
mkdir -p /etc/cocoon
printf '[Manager]\nConsoleLogMaxBytes=4K\n' >/etc/cocoon/cocoon.conf
systemctl start cocoon-manager.socket
# loglevel=7 after the image's "quiet": the kernel's boot messages make far more than 4 KiB.
id=$(cocoonctl vm run guest --name capped --memory 256M --storage 64M --append loglevel=7)
log=/var/log/cocoon/vms/$id/console.log
logs_have_ready() { cocoonctl vm logs capped | grep -q COCOON-GUEST-READY; }
wait_for 60 logs_have_ready
[ -f "$log.1" ] || fail "no rotated console log $log.1: $(ls -l "${log%/*}")"
size=$(stat -c %s "$log")
[ "$size" -le 4096 ] || fail "console.log is $size bytes, over its 4096-byte cap"
size=$(stat -c %s "$log.1")
if [ "$size" -gt 4096 ] || [ "$size" -eq 0 ]; then
        fail "console.log.1 is $size bytes, not within 1..4096"
fi
[ ! -e "$log.2" ] || fail "more than one rotated generation: $(ls "${log%/*}")"

info "the guest powers itself off: an attached console ends on its own, the VM is stopped, not in error"
mkfifo /tmp/c.in
cocoonctl vm console capped --no-tty </tmp/c.in >/tmp/c.out &
pid_c=$!
pids+=("$pid_c")
exec 7>/tmp/c.in
# The banner may be split over both files: read it as vm logs does.
logs_have_shell() { cocoonctl vm logs capped | grep -q "built-in shell"; }
wait_for 30 logs_have_shell
echo 'poweroff -f' >&7
wait_exit 15 "$pid_c" # its input is still open: only the manager can have ended the session
assert_eq 0 "$rc" "exit code of a console whose VM powered off"
exec 7>&-
pids=()
vm_is_stopped() { [ "$(vm_state capped)" = stopped ]; }
wait_for 5 vm_is_stopped
assert_eq "" "$(cocoonctl vm inspect capped | grep errorReason || true)" "errorReason after a power-off"
cocoonctl vm rm capped >/dev/null
info "ok"

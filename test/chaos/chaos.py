#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test/chaos/chaos.py: the chaos suite of issue 12, run inside tools/sandbox (tools/chaos starts it).

Modes:
  ops          mixed operations (create, start, stop, rm, image import/rm, gc, snapshot save/clone/rm) from
               several concurrent clients against real QEMU guests, while the manager is kill -9'd at random
               moments (socket activation brings it back). After each kill and at the end the invariants of
               issue 12 are checked (see check_invariants()).
  restarts     VMs running (ticking guests) through manager kills: none lost, states right, consoles logged.
  concurrency  many clients creating and deleting VMs of colliding names: no record or name lost or doubled,
               every call answered.

Every random choice comes from --seed (printed), so a failing seed replays the same operations; the
moments of the kills are drawn from it too, though the host's timing still varies between runs.
"""

import argparse
import errno
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

SOCKET = os.environ.get("COCOON_SOCKET", "/run/cocoon/io.cocoon.Manager")
STATE = "/var/lib/cocoon"
RUN = "/run/cocoon"
LOG = "/var/log/cocoon"
MEMORY = 128 << 20  # the Debian kernel of the test guest does not boot in 64 MiB
STORAGE = 64 << 20


LAST = threading.local()  # the parameters of this thread's last reply (an error's field)


class Unanswered(Exception):
    """The connection ended before the reply: the manager died (or closed it) with the call in flight."""


class Failure(Exception):
    """An invariant does not hold."""


def log(msg):
    print(f"chaos: {msg}", flush=True)


def call(method, params=None, timeout=600):
    """One Varlink call over a connection of its own. Returns (error or None, parameters); raises Unanswered
    when the connection ends without a reply."""
    msg = json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(SOCKET)
            s.sendall(msg)
            buf = b""
            while b"\0" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise Unanswered(f"{method}: connection closed without a reply")
                buf += chunk
        except (ConnectionError, FileNotFoundError) as e:
            raise Unanswered(f"{method}: {e}") from e
        except socket.timeout as e:
            raise Failure(f"{method}: no reply within {timeout} s") from e
    finally:
        s.close()
    reply = json.loads(buf.split(b"\0", 1)[0])
    LAST.params = reply.get("parameters", {})
    return reply.get("error"), reply.get("parameters", {})


def manager_pid():
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", "cocoon-manager.service"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return int(out or 0)


def wait_manager(timeout=60):
    """Waits until a manager answers Describe (socket activation starts one)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            err, _ = call("io.cocoon.Manager.Describe", timeout=30)
            if err is None:
                return
        except (Unanswered, Failure):
            pass
        if time.monotonic() > deadline:
            raise Failure(f"no manager answered within {timeout} s")
        time.sleep(0.2)


def kill_manager():
    """kill -9 the manager if one runs; returns its pid (0: none ran)."""
    pid = manager_pid()
    if pid:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return 0
    return pid


def guest_env():
    env = {}
    path = os.path.join(os.environ["COCOON_BUILD_DIR"], "guest", "guest.env")
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v.strip('"')
    return env


def import_image(name, env, rootfs=None, timeout=300):
    return call("io.cocoon.Image.Import", {"name": name, "kernel": env["KERNEL"], "initrd": env["INITRD"],
                                           "rootfs": rootfs or env["ROOTFS"], "cmdline": env["CMDLINE"]},
                timeout=timeout)


def list_vms():
    err, p = call("io.cocoon.VM.List", timeout=60)
    if err:
        raise Failure(f"VM.List failed: {err} {p}")
    return p["vms"]


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


# ---------------------------------------------------------------------------------------------------------
# Invariants


def load_records(counts):
    """Every record on disk parses and names itself: VMs, images, snapshots. Returns (vms, images, snaps) as
    dicts id → record (images by name)."""
    vms, images, snaps = {}, {}, {}
    d = f"{STATE}/vms"
    for e in os.listdir(d):
        p = f"{d}/{e}/vm.json"
        if not os.path.exists(p):
            continue
        try:
            with open(p) as f:
                r = json.load(f)
        except ValueError as ex:
            raise Failure(f"record {p} does not parse: {ex}") from ex
        if r.get("id") != e:
            raise Failure(f"record {p} has id {r.get('id')!r}")
        vms[e] = r
    d = f"{STATE}/images"
    for e in os.listdir(d):
        if not e.endswith(".json"):
            continue
        try:
            with open(f"{d}/{e}") as f:
                images[e[:-5]] = json.load(f)
        except ValueError as ex:
            raise Failure(f"image record {d}/{e} does not parse: {ex}") from ex
    d = f"{STATE}/snapshots"
    for e in os.listdir(d):
        p = f"{d}/{e}/snapshot.json"
        if not os.path.exists(p):
            continue
        try:
            with open(p) as f:
                snaps[e] = json.load(f)
        except ValueError as ex:
            raise Failure(f"snapshot record {p} does not parse: {ex}") from ex
    counts["records"] += len(vms) + len(images) + len(snaps)
    return vms, images, snaps


def vm_units():
    """id → ActiveStates of the cocoon-vm@ units systemd has loaded (also cocoon-vm@<id>-r, a restore's)."""
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "cocoon-vm@*")
    units = {}
    for line in out.splitlines():
        f = line.split()
        m = re.match(r"cocoon-vm@([a-z2-7]{26})(-r)?\.service$", f[0]) if f else None
        if m:
            units.setdefault(m.group(1), []).append(f[2])
    return units


def qemu_cgroups():
    """pid → the unit of every QEMU process (from its cgroup)."""
    res = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if not argv0.endswith(b"qemu-system-x86_64"):
                continue
            with open(f"/proc/{pid}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        m = re.search(r"/(cocoon-vm@[^/\n]*\.service)", cg)
        res[int(pid)] = m.group(1) if m else cg.strip()
    return res


def check_consistency(counts, accepted, removed, uncertain, settle=30):
    """The invariants that hold whenever no call is in flight; retried while the manager settles (a unit that
    just died is recorded from its signal)."""
    deadline = time.monotonic() + settle
    while True:
        try:
            return check_consistency_once(counts, accepted, removed, uncertain)
        except Failure as e:
            if time.monotonic() > deadline:
                raise
            last = e
            time.sleep(0.5)
            _ = last


def check_consistency_once(counts, accepted, removed, uncertain):
    listed = list_vms()
    vms, _, _ = load_records(counts)
    ids = [v["id"] for v in listed]
    names = [v["name"] for v in listed]
    if len(set(ids)) != len(ids):
        raise Failure(f"an id is listed twice: {sorted(ids)}")
    if len(set(names)) != len(names):
        raise Failure(f"a name is listed twice: {sorted(names)}")
    if set(ids) != set(vms):
        raise Failure(f"listed {sorted(set(ids) - set(vms))} without a record, records "
                      f"{sorted(set(vms) - set(ids))} not listed")
    for v in listed:
        if v["state"] == "creating":
            raise Failure(f"VM {v['id']} ({v['name']}) is creating with no call in flight")
    lost = accepted - removed - uncertain - set(ids)
    if lost:
        raise Failure(f"accepted creates lost: {sorted(lost)}")
    phantom = set(ids) & removed
    if phantom:
        raise Failure(f"VMs whose delete succeeded are still listed: {sorted(phantom)}")
    units = vm_units()
    running = {v["id"] for v in listed if v["state"] in ("running", "stopping")}
    active = {i for i, states in units.items() if any(s in ("active", "activating", "deactivating")
                                                      for s in states)}
    if running != active:
        raise Failure(f"listed running but no active unit: {sorted(running - active)}; "
                      f"active unit but not listed running: {sorted(active - running)}")
    return listed


def check_after_gc(counts):
    """After GarbageCollect nothing is left without an owner: VM directories, units, QEMU processes, network
    namespaces, image blobs, snapshot directories, temporary files."""
    err, p = call("io.cocoon.Manager.GarbageCollect", timeout=600)
    if err:
        raise Failure(f"GarbageCollect failed: {err} {p}")
    vms, images, snaps = load_records(counts)
    for base in (f"{STATE}/vms", f"{RUN}/vms", f"{LOG}/vms"):
        for e in os.listdir(base):
            if e not in vms:
                raise Failure(f"{base}/{e} has no record (after gc: {p})")
    for i in vm_units():
        if i not in vms:
            raise Failure(f"unit cocoon-vm@{i} has no record")
    known_units = {f"cocoon-vm@{i}.service" for i in vms} | {f"cocoon-vm@{i}-r.service" for i in vms}
    for pid, unit in qemu_cgroups().items():
        if unit not in known_units:
            raise Failure(f"QEMU process {pid} ({unit}) belongs to no VM")
    for ns in sh("ip", "netns", "list").split():
        if ns.startswith("cocoon-") and ns[7:] not in vms:
            raise Failure(f"network namespace {ns} has no VM")
    owned = set()
    for img in images.values():
        for k in ("kernel", "initrd", "rootfs"):
            if img.get(k):
                owned.add(img[k]["blob"])
        for layer in img.get("layers") or []:
            owned.add(layer["blob"])
    for r in list(vms.values()) + list(snaps.values()):
        owned.update(r.get("imageBlobIds") or [])
    for b in os.listdir(f"{STATE}/images/blobs"):
        if b.split(".")[0] not in owned:
            raise Failure(f"blob {b} has no owner")
    for e in os.listdir(f"{STATE}/snapshots"):
        if e not in snaps:
            raise Failure(f"snapshot directory {e} has no record (after gc)")
    tmp = f"{STATE}/images/tmp"
    if os.path.isdir(tmp) and os.listdir(tmp):
        raise Failure(f"{tmp} not empty after gc: {os.listdir(tmp)}")


# ---------------------------------------------------------------------------------------------------------
# ops: mixed operations under manager kills


class Ops:
    VM_NAMES = [f"v{i}" for i in range(8)]
    SNAP_NAMES = ["s0", "s1", "s2"]
    IMAGES = ["guest", "img0"]

    def __init__(self, args, env):
        self.args = args
        self.env = env
        self.lock = threading.Lock()
        self.accepted = set()  # ids whose create (or clone) replied success
        self.removed = set()  # ids whose delete replied success
        self.uncertain = set()  # ids a delete without reply may have removed
        self.names = {}  # id → the name it was created with
        self.counts = {"ops": 0, "answered": 0, "unanswered": 0, "kills": 0, "records": 0, "checks": 0}
        self.errors = {}
        self.kill_at = set()

    def note(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def running_count(self):
        try:
            return sum(1 for v in list_vms() if v["state"] in ("running", "stopping"))
        except (Unanswered, Failure):
            return 0

    def op(self, rng):
        """One random operation; returns (method, error) once answered; raises Unanswered."""
        name = rng.choice(self.VM_NAMES)
        kind = rng.choices(
            ["create", "run", "start", "stop", "rm", "rmf", "import", "imgrm", "gc", "save", "clone",
             "snaprm", "list"],
            weights=[10, 6, 8, 8, 8, 3, 2, 2, 2, 3, 3, 2, 4])[0]
        limit = self.args.max_running
        if kind in ("run", "start", "clone") and self.running_count() >= limit:
            kind = "stop"
        if kind in ("create", "run"):
            err, p = call("io.cocoon.VM.Create",
                          {"image": rng.choice(self.IMAGES), "name": name, "memory": MEMORY,
                           "storage": STORAGE, "start": kind == "run", "cmdline": "cocoon.tick=1"})
            if err is None:
                with self.lock:
                    self.accepted.add(p["vm"]["id"])
                    self.names[p["vm"]["id"]] = name
            return kind, err
        if kind == "clone":
            err, p = call("io.cocoon.VM.Clone", {"snapshot": rng.choice(self.SNAP_NAMES), "name": name})
            if err is None:
                with self.lock:
                    self.accepted.add(p["vm"]["id"])
                    self.names[p["vm"]["id"]] = name
            return kind, err
        if kind in ("start", "stop"):
            method = "io.cocoon.VM.Start" if kind == "start" else "io.cocoon.VM.Stop"
            params = {"refs": [name]}
            if kind == "stop":
                params.update(force=rng.random() < 0.5, timeoutSec=3)
            err, p = call(method, params)
            return kind, err or (p["results"][0].get("error") if p.get("results") else None)
        if kind in ("rm", "rmf"):
            # Delete by id when the name resolves: a reply lost to a kill then names what it may have
            # removed.
            ref = name
            try:
                e2, p2 = call("io.cocoon.VM.Inspect", {"ref": name}, timeout=60)
                if e2 is None:
                    ref = p2["vm"]["id"]
            except Unanswered:
                pass
            try:
                err, p = call("io.cocoon.VM.Delete", {"refs": [ref], "force": kind == "rmf"})
            except Unanswered:
                with self.lock:
                    self.uncertain.update({ref} if ref != name else
                                          {i for i, n in self.names.items() if n == name})
                raise
            if err is None:
                res = p["results"][0]
                if res.get("error") is None and res.get("id"):
                    with self.lock:
                        self.removed.add(res["id"])
                err = res.get("error")
            return kind, err
        if kind == "import":
            err, _ = import_image("img0", self.env, rootfs=self.variant, timeout=600)
            return kind, err
        if kind == "imgrm":
            err, _ = call("io.cocoon.Image.Delete", {"ref": "img0"})
            return kind, err
        if kind == "gc":
            err, _ = call("io.cocoon.Manager.GarbageCollect")
            return kind, err
        if kind == "save":
            err, _ = call("io.cocoon.Snapshot.Save", {"vm": name, "name": rng.choice(self.SNAP_NAMES)})
            return kind, err
        if kind == "snaprm":
            err, _ = call("io.cocoon.Snapshot.Delete", {"ref": rng.choice(self.SNAP_NAMES)})
            return kind, err
        err, _ = call("io.cocoon.VM.List")
        return kind, err

    def client(self, idx, n_ops, seed, failures):
        rng = random.Random(f"{seed}/client{idx}")
        for _ in range(n_ops):
            try:
                kind, err = self.op(rng)
                with self.lock:
                    self.counts["ops"] += 1
                    self.counts["answered"] += 1
                self.note(f"{kind}:{err or 'ok'}")
                if err and err.endswith("InvalidConfiguration"):
                    self.note(f"{kind}:{err}:{getattr(LAST, 'params', {}).get('field')}")
            except Unanswered:
                with self.lock:
                    self.counts["ops"] += 1
                    self.counts["unanswered"] += 1
                self.note("unanswered (manager killed)")
                # The socket may refuse while systemd restarts the service: give it a moment.
                time.sleep(0.2)
            except Failure as e:
                failures.append(str(e))
                return
            except Exception as e:  # noqa: BLE001 - a driver bug must fail the run, not hang it
                failures.append(f"client {idx}: {type(e).__name__}: {e}")
                return

    def run(self):
        a = self.args
        log(f"mode ops: seed {a.seed}, {a.ops} operations, {a.clients} clients, {a.kills} kills, "
            f"at most {a.max_running} guests running")
        # A root file system of other bytes: img0 has a blob of its own, which gc must keep while owned.
        self.variant = os.path.join(os.environ["COCOON_BUILD_DIR"], "chaos-rootfs-variant.ext4")
        with open(self.env["ROOTFS"], "rb") as src, open(self.variant, "wb") as dst:
            dst.write(src.read())
            dst.write(random.Random(a.seed).randbytes(4096))
        for image, rootfs in (("guest", None), ("img0", self.variant)):
            err, p = import_image(image, self.env, rootfs=rootfs)
            if err:
                raise Failure(f"importing {image} failed: {err} {p}")
        rng = random.Random(a.seed)
        epochs = a.kills + 1
        per_epoch = max(1, a.ops // epochs)
        done = 0
        for epoch in range(epochs):
            n = per_epoch if epoch < epochs - 1 else a.ops - done
            done += n
            per_client = [n // a.clients + (1 if i < n % a.clients else 0) for i in range(a.clients)]
            failures = []
            threads = [threading.Thread(target=self.client, args=(i, per_client[i], f"{a.seed}/{epoch}",
                                                                   failures))
                       for i in range(a.clients)]
            kill_delay = rng.uniform(0.2, a.kill_window) if epoch < epochs - 1 else None
            for t in threads:
                t.start()
            if kill_delay is not None:
                time.sleep(kill_delay)
                pid = kill_manager()
                log(f"epoch {epoch}: kill -9 of manager {pid} after {kill_delay:.1f} s")
                self.counts["kills"] += 1
            for t in threads:
                t.join()
            if failures:
                raise Failure("; ".join(failures))
            wait_manager()
            check_consistency(self.counts, self.accepted, self.removed, self.uncertain)
            check_after_gc(self.counts)
            self.counts["checks"] += 1
            log(f"epoch {epoch}: invariants hold ({self.counts['ops']} operations so far)")
        log("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())))
        c = self.counts
        log(f"FIGURES seed={a.seed} operations={c['ops']} answered={c['answered']} "
            f"unanswered(killed)={c['unanswered']} kills_survived={c['kills']} checks={c['checks']} "
            f"records_checked={c['records']} accepted_creates={len(self.accepted)}")


# ---------------------------------------------------------------------------------------------------------
# restarts: running VMs through manager kills


def console_size(vm):
    return os.path.getsize(f"{LOG}/vms/{vm}/console.log")


def wait_ticks(ids, timeout):
    """Waits until every VM's console log has a tick line."""
    deadline = time.monotonic() + timeout
    for vm in ids:
        while True:
            with open(f"{LOG}/vms/{vm}/console.log", "rb") as f:
                if b"COCOON-TICK" in f.read():
                    break
            if time.monotonic() > deadline:
                raise Failure(f"VM {vm} never ticked")
            time.sleep(0.5)


def run_restarts(args, env):
    log(f"mode restarts: seed {args.seed}, {args.vms} VMs, {args.kills} kills")
    rng = random.Random(args.seed)
    err, p = import_image("guest", env)
    if err:
        raise Failure(f"importing the guest failed: {err} {p}")
    # One guest boots; the others are clones of its snapshot: they resume the booted guest in seconds, where
    # many TCG guests booting at once on a loaded host take minutes (and one whose boot is starved that long
    # may stop ticking: its clock source is the TSC alone).
    err, p = call("io.cocoon.VM.Create", {"image": "guest", "name": "r0", "memory": MEMORY,
                                          "storage": STORAGE, "start": True, "cmdline": "cocoon.tick=1"})
    if err:
        raise Failure(f"VM r0: {err} {p}")
    ids = [p["vm"]["id"]]
    wait_ticks(ids, 300)
    err, p = call("io.cocoon.Snapshot.Save", {"vm": "r0", "name": "booted"})
    if err:
        raise Failure(f"snapshot of r0: {err} {p}")
    for i in range(1, args.vms):
        err, p = call("io.cocoon.VM.Clone", {"snapshot": "booted", "name": f"r{i}"})
        if err:
            raise Failure(f"clone r{i}: {err} {p}")
        ids.append(p["vm"]["id"])
    log(f"{len(ids)} VMs running (r0 and {len(ids) - 1} clones of its snapshot); waiting for their ticks")
    wait_ticks(ids, 120 + 10 * len(ids))
    pids = {v["id"]: v["runtime"]["mainPID"] for v in list_vms()}
    counts = {"records": 0}
    for k in range(args.kills):
        sizes = {vm: console_size(vm) for vm in ids}
        time.sleep(rng.uniform(0, 1))
        old = kill_manager()
        wait_manager()
        new = manager_pid()
        if new in (0, old):
            raise Failure(f"kill {k}: no new manager ({old} → {new})")
        listed = {v["id"]: v for v in list_vms()}
        load_records(counts)
        for vm in ids:
            v = listed.get(vm)
            if v is None:
                raise Failure(f"kill {k}: VM {vm} lost")
            if v["state"] != "running":
                raise Failure(f"kill {k}: VM {vm} is {v['state']}")
            if v.get("runtime", {}).get("mainPID") != pids[vm]:
                raise Failure(f"kill {k}: VM {vm}'s QEMU changed: {pids[vm]} → {v.get('runtime')}")
        if set(vm_units()) != set(ids):
            raise Failure(f"kill {k}: units {sorted(vm_units())} are not the VMs' {sorted(ids)}")
        # The console is still logged: every log grows after the restart (the guests tick once a second).
        # TCG guests on a loaded host may tick only every few seconds: allow them a while.
        deadline = time.monotonic() + 120
        while True:
            still = [vm for vm in ids if console_size(vm) <= sizes[vm]]
            if not still:
                break
            if time.monotonic() > deadline:
                spools = {vm: os.path.getsize(f"{LOG}/vms/{vm}/console.spool") for vm in still}
                raise Failure(f"kill {k}: the console logs of {still} do not grow (logs {sizes}, "
                              f"QEMU's spools now {spools})")
            time.sleep(0.3)
        log(f"kill {k + 1}/{args.kills}: manager {old} → {new}, {len(ids)} VMs running, consoles logged")
    err, p = call("io.cocoon.VM.Delete", {"refs": ids, "force": True})
    bad = [r for r in p.get("results", []) if r.get("error")] if not err else [err]
    if bad:
        raise Failure(f"deleting the VMs: {bad}")
    err, p = call("io.cocoon.Snapshot.Delete", {"ref": "booted"})
    if err:
        raise Failure(f"deleting the snapshot: {err} {p}")
    check_after_gc(counts)
    log(f"FIGURES seed={args.seed} vms_through_restarts={len(ids)} kills_survived={args.kills} lost=0 "
        f"records_checked={counts['records']}")


# ---------------------------------------------------------------------------------------------------------
# concurrency: colliding creates and deletes


def run_concurrency(args, env):
    log(f"mode concurrency: seed {args.seed}, {args.clients} clients x {args.ops} calls, "
        f"{args.names} names")
    err, p = import_image("guest", env)
    if err:
        raise Failure(f"importing the guest failed: {err} {p}")
    lock = threading.Lock()
    created, removed = [], []
    stats = {"calls": 0, "answers": 0, "unanswered": 0, "create_ok": 0, "delete_ok": 0, "NameInUse": 0}
    other = {}
    failures = []
    start = threading.Barrier(args.clients)

    def client(idx):
        rng = random.Random(f"{args.seed}/{idx}")
        start.wait()
        for _ in range(args.ops):
            name = f"n{rng.randrange(args.names)}"
            create = rng.random() < 0.5
            with lock:
                stats["calls"] += 1
            try:
                if create:
                    err, p = call("io.cocoon.VM.Create", {"image": "guest", "name": name, "memory": MEMORY,
                                                          "storage": STORAGE})
                else:
                    err, p = call("io.cocoon.VM.Delete", {"refs": [name]})
                    if err is None:
                        err = p["results"][0].get("error")
            except Unanswered as e:
                with lock:
                    stats["unanswered"] += 1
                failures.append(str(e))
                continue
            except Failure as e:
                failures.append(str(e))
                return
            with lock:
                stats["answers"] += 1
                if err is None and create:
                    stats["create_ok"] += 1
                    created.append((p["vm"]["id"], name))
                elif err is None:
                    stats["delete_ok"] += 1
                    removed.append(p["results"][0]["id"])
                elif err.endswith("NameInUse"):
                    stats["NameInUse"] += 1
                else:
                    other[err] = other.get(err, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    if failures:
        raise Failure(f"{len(failures)} calls failed: {failures[:5]}")
    if stats["answers"] != stats["calls"]:
        raise Failure(f"{stats['calls']} calls, {stats['answers']} answers")
    counts = {"records": 0}
    listed = list_vms()
    ids = [v["id"] for v in listed]
    names = [v["name"] for v in listed]
    if len(set(names)) != len(names):
        raise Failure(f"duplicated names: {sorted(names)}")
    created_ids = {i for i, _ in created}
    if len(created_ids) != len(created):
        raise Failure("an id was created twice")
    if len(set(removed)) != len(removed):
        raise Failure(f"a VM was deleted twice: {sorted(removed)}")
    if set(removed) - created_ids:
        raise Failure(f"deleted VMs nobody created: {sorted(set(removed) - created_ids)}")
    if set(ids) != created_ids - set(removed):
        raise Failure(f"listed {sorted(ids)}, expected {sorted(created_ids - set(removed))}")
    for i, n in created:
        if i in ids and listed[ids.index(i)]["name"] != n:
            raise Failure(f"VM {i} was created as {n}, is listed as {listed[ids.index(i)]['name']}")
    vms, _, _ = load_records(counts)
    if set(vms) != set(ids):
        raise Failure(f"records {sorted(vms)} differ from the list {sorted(ids)}")
    err, p = call("io.cocoon.VM.Delete", {"refs": ids}) if ids else (None, {"results": []})
    if err or any(r.get("error") for r in p["results"]):
        raise Failure(f"final delete: {err} {p}")
    check_after_gc(counts)
    log(f"outcomes: {stats}, other errors {other}")
    log(f"FIGURES seed={args.seed} clients={args.clients} calls={stats['calls']} answers={stats['answers']} "
        f"creates_ok={stats['create_ok']} deletes_ok={stats['delete_ok']} lost=0 duplicated=0 "
        f"records_checked={counts['records']} seconds={took:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="ops", choices=["ops", "restarts", "concurrency"])
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock; printed)")
    ap.add_argument("--ops", type=int, default=None,
                    help="operations in all (ops: 200), calls per client (concurrency: 20)")
    ap.add_argument("--clients", type=int, default=None, help="concurrent clients (ops: 4, concurrency: 64)")
    ap.add_argument("--kills", type=int, default=None, help="manager kills (ops: 10, restarts: 20)")
    ap.add_argument("--vms", type=int, default=12,
                    help="restarts: VMs running through the kills (one booted, the others its clones)")
    ap.add_argument("--names", type=int, default=8, help="concurrency: distinct names the clients share")
    ap.add_argument("--max-running", type=int, default=4, help="ops: guests running at most (TCG is slow)")
    ap.add_argument("--kill-window", type=float, default=6.0,
                    help="ops: a kill comes 0.2..N s into its epoch")
    ap.add_argument("--smoke", action="store_true", help="ops: a short run (24 operations, 2 kills)")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    if args.smoke:
        args.ops = args.ops or 24
        args.kills = 2 if args.kills is None else args.kills
        args.kill_window = min(args.kill_window, 3.0)
    defaults = {"ops": {"ops": 200, "clients": 4, "kills": 10},
                "restarts": {"ops": 0, "clients": 1, "kills": 20},
                "concurrency": {"ops": 20, "clients": 64, "kills": 0}}[args.mode]
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    log(f"seed {args.seed} (replay: tools/chaos {args.mode} --seed {args.seed} ...)")
    env = guest_env()
    t0 = time.monotonic()
    try:
        if args.mode == "ops":
            Ops(args, env).run()
        elif args.mode == "restarts":
            run_restarts(args, env)
        else:
            run_concurrency(args, env)
    except Failure as e:
        log(f"FAIL (seed {args.seed}): {e}")
        return 1
    log(f"PASS (seed {args.seed}) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The domaind scenario of the real-Xen test: runs inside the test dom0
(tests/xen/dom0-init), against domaind with the xen plugin on a private bus.

One PV guest (pygrub from an ext4 disk, busybox initramfs printing
DOMAIND-GUEST-UP on hvc0) goes through
    define -> start -> marker -> suspend -> resume -> save -> restore
    -> console -> shutdown -> undefine
over D-Bus (Gio), each step cross-checked with xl where Xen can tell.  Every
step prints one line on stdout (dom0's console, Xen's serial port):
    XEN-E2E step=NAME result=ok|fail detail=TEXT
A step whose precondition failed is reported as failed ("skipped: ...") so
the host sees every step.  The guest's console is read from xenconsoled's
log (--console-dir), independently of the plugin.
"""

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid as uuidlib

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.domaind1"
ROOT = "/org/domaind1"
XEN_HV = "/org/domaind1/xen"
MANAGER = "org.domaind1.Manager"
HV = "org.domaind1.Hypervisor"
DOMAIN = "org.domaind1.Domain"
PROPS = "org.freedesktop.DBus.Properties"
MARKER = "DOMAIND-GUEST-UP"
NAME = "xen-e2e-guest"
PYGRUB = "/usr/lib/xen-4.17/bin/pygrub"

CALL_TIMEOUT_MS = 300000   # saves and pygrub take long under TCG
BOOT_TIMEOUT = 240         # start -> marker (xl create alone: 15-35 s here)
SHUTDOWN_TIMEOUT = 180


class Fail(Exception):
    pass


class Scenario:
    def __init__(self, args):
        self.args = args
        self.results = open(args.results, "a") if args.results else None
        self.passed = 0
        self.failed = 0
        self.conn = None
        self.dom = None           # object path
        self.uuid = str(uuidlib.uuid4())
        self.events = []          # (event, detail) DomainEvents for our domain
        self.props_seen = []      # State values from PropertiesChanged
        self.save_path = os.path.join(args.work, "domaind.save")
        self.broken = None        # why later steps cannot run

    # --- output

    def result(self, name, ok, detail=""):
        detail = " ".join(str(detail).split())[:400]
        line = f"XEN-E2E step={name} result={'ok' if ok else 'fail'} detail={detail}"
        print(line, flush=True)
        if self.results:
            self.results.write(line + "\n")
            self.results.flush()
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def log(self, text):
        print(f"scenario: {text}", file=sys.stderr, flush=True)

    # --- D-Bus

    def pump(self, seconds=0.0):
        ctx = GLib.MainContext.default()
        end = time.monotonic() + seconds
        while True:
            while ctx.iteration(False):
                pass
            if time.monotonic() >= end:
                return
            time.sleep(min(0.02, max(0.0, end - time.monotonic())))

    def call(self, path, iface, method, sig=None, args=(), reply=None, timeout_ms=CALL_TIMEOUT_MS):
        params = GLib.Variant(f"({sig})", tuple(args)) if sig else None
        rtype = GLib.VariantType.new(reply) if reply else None
        # async + main loop iteration so signals are recorded while we wait
        box = {}

        def done(conn, res, _data):
            try:
                box["v"] = conn.call_finish(res)
            except GLib.Error as e:
                box["e"] = e
        self.conn.call(BUS_NAME, path, iface, method, params, rtype,
                       Gio.DBusCallFlags.NONE, timeout_ms, None, done, None)
        ctx = GLib.MainContext.default()
        while not box:
            ctx.iteration(True)
        if "e" in box:
            e = box["e"]
            name = Gio.DBusError.get_remote_error(e) or "?"
            msg = re.sub(r"^GDBus\.Error:[^:]*:\s*", "", e.message or "")
            raise Fail(f"{method}: {name}: {msg}")
        return box["v"].unpack() if box["v"] is not None else ()

    def get(self, path, iface, prop):
        return self.call(path, PROPS, "Get", "ss", (iface, prop), "(v)")[0]

    def state(self):
        return self.get(self.dom, DOMAIN, "State")

    def state_reason(self):
        return f"{self.state()}/{self.get(self.dom, DOMAIN, 'StateReason')}"

    def wait_state(self, want, timeout):
        end = time.monotonic() + timeout
        while True:
            s = self.state()
            if s in want:
                return s
            if time.monotonic() >= end:
                raise Fail(f"state is {s}, not {'|'.join(want)} after {timeout}s")
            self.pump(0.5)

    def on_signal(self, conn, sender, path, iface, member, params, _data):
        if member == "DomainEvent":
            dom, ev, detail = params.unpack()
            if self.dom is None or dom == self.dom:
                self.events.append((ev, detail))
                self.log(f"DomainEvent {ev}/{detail}")
        elif member == "PropertiesChanged" and path == self.dom:
            iface_name, changed, _inv = params.unpack()
            if "State" in changed:
                self.props_seen.append(changed["State"])

    # --- xl cross-checks

    def xl_state(self):
        """The state column of `xl list NAME` ('' when Xen has no such domain)."""
        r = subprocess.run(["xl", "list", NAME], capture_output=True, text=True)
        if r.returncode != 0:
            return ""
        lines = r.stdout.strip().splitlines()
        return lines[1].split()[4] if len(lines) > 1 else ""

    def console_log(self):
        return os.path.join(self.args.console_dir, f"guest-{NAME}.log")

    def console_text(self):
        try:
            with open(self.console_log(), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # --- steps

    def step(self, name, fn, needs=True):
        if self.broken and needs:
            self.result(name, False, f"skipped: {self.broken}")
            return False
        t = time.monotonic()
        try:
            detail = fn()
        except Fail as e:
            self.result(name, False, f"{e} ({time.monotonic() - t:.1f}s)")
            return False
        except Exception as e:  # noqa: BLE001 - report anything
            self.result(name, False, f"{type(e).__name__}: {e} ({time.monotonic() - t:.1f}s)")
            return False
        self.result(name, True, f"{detail} ({time.monotonic() - t:.1f}s)".strip())
        return True

    def s_connect(self):
        end = time.monotonic() + 30
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.args.bus, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        for iface, member in (("org.domaind1.Hypervisor", "DomainEvent"),
                              (PROPS, "PropertiesChanged")):
            self.conn.signal_subscribe(BUS_NAME, iface, member, None, None,
                                       Gio.DBusSignalFlags.NONE, self.on_signal, None)
        while True:
            owner = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        GLib.Variant("(s)", (BUS_NAME,)), None,
                                        Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
            if owner:
                break
            if time.monotonic() >= end:
                raise Fail("domaind did not take org.domaind1 within 30 s")
            time.sleep(0.2)
        hvs = self.get(ROOT, MANAGER, "Hypervisors")
        unavailable = self.get(ROOT, MANAGER, "UnavailablePlugins")
        if XEN_HV not in hvs:
            raise Fail(f"no {XEN_HV}: Hypervisors={list(hvs)} UnavailablePlugins={list(unavailable)}")
        version = self.get(XEN_HV, HV, "Version")
        uri = self.get(XEN_HV, HV, "URI")
        return f"Hypervisors={list(hvs)} xen Version={version} URI={uri}"

    def domain_xml(self):
        return f"""<domain type='xen'>
  <name>{NAME}</name>
  <uuid>{self.uuid}</uuid>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>256</currentMemory>
  <vcpu>1</vcpu>
  <bootloader>{PYGRUB}</bootloader>
  <bootloader_args>-q</bootloader_args>
  <os>
    <type arch='x86_64' machine='xenpv'>linux</type>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{self.args.guest_image}'/>
      <target dev='xvda' bus='xen'/>
      <readonly/>
    </disk>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
  </devices>
</domain>
"""

    def s_define(self):
        (path,) = self.call(XEN_HV, HV, "DefineXML", "st", (self.domain_xml(), 0), "(o)")
        self.dom = path
        st = self.state_reason()
        if not st.startswith("shutoff"):
            raise Fail(f"defined domain is {st}")
        return f"{path} {st}"

    def s_start(self):
        self.call(self.dom, DOMAIN, "Start", "t", (0,))
        st = self.state_reason()
        if not st.startswith("running"):
            raise Fail(f"after Start the state is {st}")
        domid = self.get(self.dom, DOMAIN, "Id")
        xs = self.xl_state()
        if not xs:
            raise Fail(f"State {st} Id {domid} but xl list has no {NAME}")
        return f"{st} Id={domid} xl={xs}"

    def s_marker(self):
        end = time.monotonic() + BOOT_TIMEOUT
        t = time.monotonic()
        while MARKER not in self.console_text():
            if time.monotonic() >= end:
                tail = self.console_text()[-300:]
                raise Fail(f"no {MARKER} in {self.console_log()} after {BOOT_TIMEOUT}s "
                           f"(state {self.state()}, xl {self.xl_state()!r}): {tail!r}")
            self.pump(1.0)
        return f"{MARKER} {time.monotonic() - t:.0f}s after Start returned"

    def s_domctl(self):
        """domctl, unchanged, against --hypervisor xen (issue 6 item 8)."""
        domctl = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "domctl")
        base = [domctl, f"--bus={self.args.bus}", "--hypervisor", "xen"]
        out = {}
        for verb in (["list", "--all"], ["dominfo", NAME], ["domstate", NAME]):
            r = subprocess.run(base + verb, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise Fail(f"domctl {' '.join(verb)}: exit {r.returncode}: {r.stderr.strip()}")
            out[verb[0]] = r.stdout
        if NAME not in out["list"] or "running" not in out["list"]:
            raise Fail(f"domctl list --all: {out['list']!r}")
        if "running" not in out["domstate"]:
            raise Fail(f"domctl domstate: {out['domstate']!r}")
        if self.uuid not in out["dominfo"]:
            raise Fail(f"domctl dominfo lacks the UUID {self.uuid}: {out['dominfo']!r}")
        return "list, dominfo and domstate agree: " + out["domstate"].strip()

    def s_suspend(self):
        self.call(self.dom, DOMAIN, "Suspend")
        st = self.state_reason()
        xs = self.xl_state()
        if not st.startswith("paused") or "p" not in xs:
            raise Fail(f"after Suspend: State {st}, xl {xs!r}")
        return f"{st} xl={xs}"

    def s_resume(self):
        self.call(self.dom, DOMAIN, "Resume")
        st = self.state_reason()
        xs = self.xl_state()
        if not st.startswith("running") or "p" in xs:
            raise Fail(f"after Resume: State {st}, xl {xs!r}")
        return f"{st} xl={xs}"

    def s_save(self):
        try:
            os.unlink(self.save_path)
        except FileNotFoundError:
            pass
        self.call(self.dom, DOMAIN, "Save", "sst", (self.save_path, "", 0))
        st = self.state_reason()
        xs = self.xl_state()
        size = os.path.getsize(self.save_path) if os.path.exists(self.save_path) else -1
        if not st.startswith("shutoff") or xs or size <= 0:
            raise Fail(f"after Save: State {st}, xl {xs!r}, file size {size}")
        return f"{st} {size >> 20} MiB"

    def s_restore(self):
        (path,) = self.call(XEN_HV, HV, "Restore", "sst", (self.save_path, "", 0), "(o)")
        if path != self.dom:
            raise Fail(f"Restore returned {path}, not {self.dom}")
        st = self.state_reason()
        xs = self.xl_state()
        if not st.startswith("running") or not xs:
            raise Fail(f"after Restore: State {st}, xl {xs!r}")
        return f"{st} Id={self.get(self.dom, DOMAIN, 'Id')} xl={xs}"

    def s_alive(self):
        """The restored guest runs: its CPU time grows (a suspended or dead
        guest's does not), read through domaind and from xl."""
        a = self.get(self.dom, DOMAIN, "CPUTime")
        self.pump(3.0)
        b = self.get(self.dom, DOMAIN, "CPUTime")
        if b <= a:
            raise Fail(f"CPUTime did not grow in 3 s ({a} -> {b})")
        return f"CPUTime {a} -> {b} ns"

    def s_console(self):
        """Domain.OpenConsole: a pty on the guest's hvc0; the guest answers
        `echo TEXT` with TEXT."""
        fdlist_reply = self.conn.call_with_unix_fd_list_sync(
            BUS_NAME, self.dom, DOMAIN, "OpenConsole", GLib.Variant("(st)", ("", 0)),
            GLib.VariantType.new("(h)"), Gio.DBusCallFlags.NONE, 30000, None, None)
        reply, fds = fdlist_reply
        fd = fds.get(reply.unpack()[0])
        try:
            word = f"XEN-E2E-PING-{os.getpid()}"
            os.write(fd, f"\necho {word}\n".encode())
            end = time.monotonic() + 30
            buf = b""
            while word.encode() not in buf:
                left = end - time.monotonic()
                if left <= 0:
                    raise Fail(f"no {word} from the console in 30 s: {buf[-200:]!r}")
                r, _, _ = select.select([fd], [], [], left)
                if r:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        raise Fail(f"console closed: {buf[-200:]!r}")
                    buf += chunk
            return "echo answered through OpenConsole"
        finally:
            os.close(fd)

    def name_owned(self):
        return self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "NameHasOwner", GLib.Variant("(s)", (BUS_NAME,)), None,
                                   Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]

    def wait_owner(self, owned, timeout):
        end = time.monotonic() + timeout
        while self.name_owned() != owned:
            if time.monotonic() >= end:
                raise Fail(f"org.domaind1 {'did not appear' if owned else 'stayed'} within {timeout} s")
            time.sleep(0.1)

    def s_restart(self):
        """kill -9 domaind and start it again with the same command line: the
        guest keeps running under Xen, domaind finds it with the same Id and
        still controls it."""
        pidfile = self.args.domaind_pidfile
        pid = int(open(pidfile).read())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        domid = self.get(self.dom, DOMAIN, "Id")
        os.kill(pid, signal.SIGKILL)
        self.wait_owner(False, 10)
        if not self.xl_state():
            raise Fail("the guest died with domaind")
        log = open("/run/e2e/domaind.log", "ab")
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        with open(pidfile, "w") as f:
            f.write(f"{child.pid}\n")
        self.wait_owner(True, 30)
        st = self.state_reason()
        new_domid = self.get(self.dom, DOMAIN, "Id")
        if not st.startswith("running") or new_domid != domid:
            raise Fail(f"after the restart: State {st}, Id {new_domid} (was {domid})")
        self.call(self.dom, DOMAIN, "Suspend")
        paused = self.xl_state()
        self.call(self.dom, DOMAIN, "Resume")
        if "p" not in paused or "p" in self.xl_state():
            raise Fail(f"not controllable after the restart: xl {paused!r} after Suspend")
        return f"{st} Id={new_domid} unchanged, Suspend/Resume work (xl {paused} then {self.xl_state()})"

    def wait_new_marker(self, before, after_what):
        end = time.monotonic() + BOOT_TIMEOUT
        while self.console_text().count(MARKER) <= before:
            if time.monotonic() >= end:
                raise Fail(f"no new {MARKER} {BOOT_TIMEOUT}s after {after_what} (state {self.state_reason()}, "
                           f"xl {self.xl_state()!r})")
            self.pump(1.0)

    def s_reboot(self):
        before = self.console_text().count(MARKER)
        self.call(self.dom, DOMAIN, "Reboot", "t", (0,))
        self.wait_new_marker(before, "Reboot")
        st = self.state_reason()
        if not st.startswith("running"):
            raise Fail(f"after Reboot: State {st}")
        # Xen reboots by building a new domain: Id must follow it
        r = subprocess.run(["xl", "domid", NAME], capture_output=True, text=True)
        domid = self.get(self.dom, DOMAIN, "Id")
        if r.returncode != 0 or int(r.stdout.strip()) != domid:
            raise Fail(f"after Reboot: Id {domid}, but xl domid says {r.stdout.strip() or r.stderr.strip()}")
        return f"{st} Id={domid} (as xl domid), the guest booted again"

    def s_managed_save(self):
        before = self.console_text().count(MARKER)
        self.call(self.dom, DOMAIN, "Start", "t", (0,))
        # a PV guest answers the suspend request only once its kernel is up
        self.wait_new_marker(before, "Start")
        self.call(self.dom, DOMAIN, "ManagedSave", "t", (0,))
        st = self.state_reason()
        if not st.startswith("saved") or self.xl_state() or not self.get(self.dom, DOMAIN, "HasManagedSave"):
            raise Fail(f"after ManagedSave: State {st}, xl {self.xl_state()!r}")
        self.call(self.dom, DOMAIN, "Start", "t", (0,))
        st2 = self.state_reason()
        if not st2.startswith("running/restored") or not self.xl_state():
            raise Fail(f"Start of a managed-saved domain: State {st2}, xl {self.xl_state()!r}")
        return f"{st}, then Start: {st2}"

    def s_destroy(self):
        self.call(self.dom, DOMAIN, "Destroy", "t", (0,))
        st = self.state_reason()
        end = time.monotonic() + 30
        while self.xl_state():
            if time.monotonic() >= end:
                raise Fail(f"State {st} but xl still lists {NAME}")
            time.sleep(0.5)
        if not st.startswith("shutoff/destroyed"):
            raise Fail(f"after Destroy: State {st}")
        return st

    def s_shutdown(self):
        self.call(self.dom, DOMAIN, "Shutdown", "t", (0,))
        t = time.monotonic()
        self.wait_state(("shutoff",), SHUTDOWN_TIMEOUT)
        end = time.monotonic() + 30
        while self.xl_state():
            if time.monotonic() >= end:
                raise Fail(f"State shutoff but xl still lists {NAME} ({self.xl_state()})")
            time.sleep(0.5)
        return f"{self.state_reason()} {time.monotonic() - t:.0f}s after Shutdown returned"

    def s_undefine(self):
        self.call(self.dom, DOMAIN, "Undefine", "t", (0,))
        try:
            self.call(XEN_HV, HV, "LookupByName", "s", (NAME,), "(o)")
        except Fail as e:
            if "NoSuchDomain" not in str(e):
                raise
            return "gone (LookupByName: NoSuchDomain)"
        raise Fail("LookupByName still finds the domain after Undefine")

    def s_events(self):
        want = [("defined", "added"), ("started", "booted"), ("suspended", "paused"),
                ("resumed", "unpaused"), ("stopped", "saved"), ("started", "restored"),
                ("stopped", "shutdown"), ("stopped", "saved"), ("started", "restored"),
                ("stopped", "destroyed"), ("undefined", "removed")]
        self.pump(0.5)
        got = list(self.events)
        i = 0
        for ev in got:
            if i < len(want) and ev == want[i]:
                i += 1
        text = " ".join(f"{e}/{d}" for e, d in got)
        if i < len(want):
            raise Fail(f"missing {want[i][0]}/{want[i][1]} in order; got: {text}")
        return text

    def cleanup(self):
        if self.xl_state():
            subprocess.run(["xl", "destroy", NAME], capture_output=True)
        if self.conn and self.dom:
            for m, sig, a in (("Destroy", "t", (0,)), ("Undefine", "t", (1,))):
                try:
                    self.call(self.dom, DOMAIN, m, sig, a, timeout_ms=30000)
                except Fail:
                    pass

    def run(self):
        if not self.step("domaind-start", self.s_connect):
            self.broken = "domaind/xen hypervisor not available"
        if not self.step("define", self.s_define):
            self.broken = self.broken or "define failed"
        if not self.step("start", self.s_start):
            self.broken = self.broken or "start failed"
        if not self.step("marker", self.s_marker):
            self.broken = self.broken or "the guest did not boot"
        self.step("domctl", self.s_domctl)
        self.step("suspend", self.s_suspend) and self.step("resume", self.s_resume)
        if self.step("save", self.s_save):
            if not self.step("restore", self.s_restore):
                self.broken = self.broken or "restore failed"
            else:
                self.step("alive", self.s_alive)
                self.step("console", self.s_console)
                self.step("restart", self.s_restart)
                self.step("reboot", self.s_reboot)
        else:
            # the guest may still run: go on with shutdown
            pass
        if self.step("shutdown", self.s_shutdown):
            self.step("managed-save", self.s_managed_save) and self.step("destroy", self.s_destroy)
        self.step("undefine", self.s_undefine, needs=self.dom is not None)
        self.step("events", self.s_events, needs=False)
        self.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", required=True)
    ap.add_argument("--guest-image", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--console-dir", required=True)
    ap.add_argument("--results")
    ap.add_argument("--domaind-pidfile", required=True)
    args = ap.parse_args()
    s = Scenario(args)
    try:
        s.run()
    finally:
        s.cleanup()
    return 0 if s.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the KVM plugin's integration tests (tests/integration/test_kvm*.py).

Real QEMU processes behind a real domaind on the private bus:

  images()         the guest images of tests/images/build, built once per
                   session into $DOMAIND_BUILD_DIR/test-images (conftest's
                   kvm_images fixture)
  KvmEnv           a DomaindEnv whose config selects the accelerator
                   ([kvm] Accelerator=tcg unless $DOMAIND_TEST_ACCEL says
                   otherwise); at close it destroys every active kvm domain
                   (guests outlive domaind by design), stops domaind, and
                   kills and reports any QEMU of its temporary folder that
                   survived
  kvm_xml()        libvirt domain XML for a QEMU guest
  ConsoleLog       the copy of a guest's first serial console that QEMU
                   writes to <runtime>/kvm/<uuid>.d/console.log
  Console          a file descriptor from Domain.OpenConsole (the pty)

Guest protocol (tests/images/init, tests/images/bootsector.S): the guest
prints DOMAIND-GUEST-UP (DOMAIND-BOOTSECTOR-UP) on ttyS0 once its ACPI
power button handler listens, and reads `poweroff`, `reboot`, `panic`,
`echo TEXT` lines from ttyS0.
"""

import fcntl
import os
import select
import signal
import subprocess
import termios
import time
import tty
import uuid as uuidlib
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from gi.repository import Gio, GLib

import harness
from harness import (DOMAIN_IFACE, HV_IFACE, REPO_ROOT, DBusCallError, DomaindEnv, F,
                     build_dir, plugin_dir, wait_until)

KVM_HV_PATH = "/org/domaind1/kvm"
GUEST_MARKER = "DOMAIND-GUEST-UP"
BOOTSECTOR_MARKER = "DOMAIND-BOOTSECTOR-UP"
PYGRUB = "/usr/lib/xen-4.17/bin/pygrub"

BOOT_TIMEOUT = 30.0    # a marker on the console (TCG boots in ~2 s; the machine is shared)
PXE_TIMEOUT = 40.0     # PXE through slirp's TFTP takes ~9 s
EVENT_TIMEOUT = 30.0   # events that need the guest to act (ACPI power-off...)

IMAGE_FILES = ("vmlinuz", "initrd.img", "disk-syslinux.img", "boot.iso", "pxe",
               "pygrub.ext4", "bootsector.img")


def accel():
    """The accelerator the tests configure: tcg by default (a software-only
    /dev/kvm cannot boot Linux here), $DOMAIND_TEST_ACCEL to override."""
    return os.environ.get("DOMAIND_TEST_ACCEL", "tcg")


def kvm_plugin_path():
    return plugin_dir() / "kvm.so"


def require_kvm_plugin():
    p = kvm_plugin_path()
    if not p.exists():
        pytest.skip(f"kvm plugin not built ({p})")


def qemu_binary():
    return "/usr/bin/qemu-system-x86_64"


def dev_kvm_usable():
    """(True, "") if /dev/kvm opens read-write, else (False, why)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"/dev/kvm: {e.strerror}"
    os.close(fd)
    return True, ""


# ---------------------------------------------------------------------------
# guest images


def images_dir():
    d = os.environ.get("DOMAIND_TEST_IMAGES")
    return Path(d) if d else build_dir() / "test-images"


def images():
    """Builds the guest images (tests/images/build OUTDIR, which caches) and
    returns {name: Path}. Skips when the build script is not there."""
    script = REPO_ROOT / "tests" / "images" / "build"
    out = images_dir()
    if not script.exists():
        pytest.skip(f"{script} does not exist: no guest images")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    r = subprocess.run([str(script), str(out)], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        pytest.fail(f"tests/images/build {out} failed ({r.returncode}):\n"
                    f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}", pytrace=False)
    missing = [n for n in IMAGE_FILES if not (out / n).exists()]
    if missing:
        pytest.fail(f"tests/images/build did not make {missing} in {out}", pytrace=False)
    dt = time.monotonic() - t0
    if dt > 5:
        print(f"\nguest images built in {dt:.1f}s into {out}")
    return {n: out / n for n in IMAGE_FILES}


# ---------------------------------------------------------------------------
# processes


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def qemu_processes(needle):
    """[(pid, argv)] of live (not zombie) qemu-system processes whose command
    line mentions needle."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        argv = _cmdline(pid)
        if not argv or "qemu-system" not in os.path.basename(argv[0]):
            continue
        if not any(needle in a for a in argv):
            continue
        if _proc_state(pid) in (None, "Z", "X"):
            continue
        out.append((pid, argv))
    return out


def pid_alive(pid):
    return _proc_state(pid) not in (None, "Z", "X")


# ---------------------------------------------------------------------------
# the environment


def kvm_config(accelerator=None, extra=""):
    return ("[domaind]\nJobWaitTimeoutSec=30\n\n[kvm]\n"
            f"Accelerator={accelerator or accel()}\n" + extra)


class KvmEnv(DomaindEnv):
    """A DomaindEnv for the kvm plugin. Guests outlive domaind, so close()
    destroys every active kvm domain first, and then kills (and reports)
    every QEMU of this environment that is still there."""

    def __init__(self, name="kvm", accelerator=None, config_text=None, **kw):
        super().__init__(name=name, config_text=config_text or kvm_config(accelerator), **kw)
        self.accelerator = accelerator or accel()
        self.keep = set()  # domain paths shared between tests (not destroyed after each)

    def domaind_argv(self):
        # QMP traffic and the plugin's decisions go into the log failures show
        argv = super().domaind_argv()
        if os.environ.get("DOMAIND_TEST_DEBUG", "1") != "0":
            argv.append("--debug")
        return argv

    # --- paths

    @property
    def kvm_dir(self):
        return self.runtime_dir / "kvm"

    def guest_dir(self, uuid):
        return self.kvm_dir / f"{uuid}.d"

    def qmp_socket(self, uuid):
        return self.guest_dir(uuid) / "qmp.sock"

    def qemu_log(self, uuid):
        return self.kvm_dir / f"{uuid}.log"

    def console_log(self, uuid):
        return ConsoleLog(self.guest_dir(uuid) / "console.log")

    def extra_logs(self):
        out = []
        if self.kvm_dir.is_dir():
            for p in sorted(self.kvm_dir.glob("*.log")):
                out.append((f"QEMU log {p.name}", p))
            for p in sorted(self.kvm_dir.glob("*.d/console.log")):
                out.append((f"console {p.parent.name}", p))
        return out

    # --- QEMU processes

    def qemus(self):
        return qemu_processes(str(self.tmp))

    def qemu_pid(self, uuid):
        """The pid of the guest's QEMU (found by its QMP socket), or None."""
        procs = qemu_processes(str(self.qmp_socket(uuid)))
        assert len(procs) <= 1, f"more than one QEMU for {uuid}: {procs}"
        return procs[0][0] if procs else None

    def wait_no_qemu(self, uuid, timeout=5.0):
        wait_until(lambda: self.qemu_pid(uuid) is None, timeout, f"QEMU of {uuid} gone")

    # --- teardown

    def destroy_all(self, keep=()):
        """Destroys every active kvm domain (but those in keep) through
        domaind. Returns problems."""
        problems = []
        if self.proc is None or self.proc.poll() is not None or self.address is None:
            return problems
        try:
            c = self.client()
            paths = c.call(KVM_HV_PATH, HV_IFACE, "ListDomains", "t", (F.ACTIVE,), "(ao)")
        except (DBusCallError, GLib.Error) as e:
            return [f"cannot list kvm domains at teardown: {e}"]
        for p in paths:
            if p in keep:
                continue
            try:
                c.call(p, DOMAIN_IFACE, "Destroy", "t", (0,), timeout_ms=20000)
            except DBusCallError as e:
                if e.name != harness.E_INVALID_STATE:
                    problems.append(f"Destroy {p} at teardown: {e}")
        c.close()
        self.clients.remove(c)
        return problems

    def kill_leftover_qemus(self):
        left = self.qemus()
        for pid, _argv in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if left:
            return ["QEMU processes survived the teardown (killed): "
                    + "; ".join(f"pid {pid}: {' '.join(argv)[:300]}" for pid, argv in left)]
        return []

    def close(self, check_exit=True):
        problems = self.destroy_all()
        problems += super().close(check_exit)
        # QEMU needs a moment after its last SIGTERM
        deadline = time.monotonic() + 5
        while self.qemus() and time.monotonic() < deadline:
            time.sleep(0.05)
        problems += self.kill_leftover_qemus()
        return problems


# ---------------------------------------------------------------------------
# domain XML


def disk_xml(file, dev="vda", bus="virtio", device="disk", fmt="raw", readonly=False,
             boot_order=None):
    s = [f"    <disk type='file' device='{device}'>",
         f"      <driver name='qemu' type='{fmt}'/>"]
    if file is not None:
        s.append(f"      <source file='{escape(str(file))}'/>")
    s.append(f"      <target dev='{dev}' bus='{bus}'/>")
    if readonly:
        s.append("      <readonly/>")
    if boot_order is not None:
        s.append(f"      <boot order='{boot_order}'/>")
    s.append("    </disk>")
    return "\n".join(s)


def kvm_xml(name, uuid=None, *, dtype="qemu", memory_mib=256, vcpus=1, machine="pc",
            kernel=None, initrd=None, cmdline=None, boot=(), bootloader=None,
            bootloader_args=None, disks=(), interfaces=(), on_poweroff=None, on_reboot=None,
            on_crash=None, panic=False, serial=True, emulator=None, extra_devices="", cpu=""):
    """libvirt domain XML for a QEMU guest with a pty serial console."""
    u = uuid or str(uuidlib.uuid4())
    parts = [f"<domain type='{dtype}'>", f"  <name>{name}</name>", f"  <uuid>{u}</uuid>",
             f"  <memory unit='MiB'>{memory_mib}</memory>", f"  <vcpu>{vcpus}</vcpu>"]
    if cpu:
        parts.append(cpu)
    if bootloader:
        parts.append(f"  <bootloader>{escape(bootloader)}</bootloader>")
        if bootloader_args:
            parts.append(f"  <bootloader_args>{escape(bootloader_args)}</bootloader_args>")
    parts.append("  <os>")
    parts.append(f"    <type arch='x86_64' machine='{machine}'>hvm</type>")
    if kernel:
        parts.append(f"    <kernel>{escape(str(kernel))}</kernel>")
    if initrd:
        parts.append(f"    <initrd>{escape(str(initrd))}</initrd>")
    if cmdline is not None:
        parts.append(f"    <cmdline>{escape(cmdline)}</cmdline>")
    for b in boot:
        parts.append(f"    <boot dev='{b}'/>")
    parts.append("  </os>")
    parts.append("  <features><acpi/></features>")
    if on_poweroff:
        parts.append(f"  <on_poweroff>{on_poweroff}</on_poweroff>")
    if on_reboot:
        parts.append(f"  <on_reboot>{on_reboot}</on_reboot>")
    if on_crash:
        parts.append(f"  <on_crash>{on_crash}</on_crash>")
    parts.append("  <devices>")
    if emulator:
        parts.append(f"    <emulator>{escape(str(emulator))}</emulator>")
    parts.extend(disks)
    parts.extend(interfaces)
    if serial:
        parts.append("    <serial type='pty'><target port='0'/></serial>")
        parts.append("    <console type='pty'><target type='serial' port='0'/></console>")
    if panic:
        parts.append("    <panic model='isa'/>")
    if extra_devices:
        parts.append(extra_devices)
    parts.append("  </devices>")
    parts.append("</domain>")
    return "\n".join(parts) + "\n", u


def linux_xml(imgs, name, uuid=None, cmdline="console=ttyS0 panic=-1", **kw):
    """A direct kernel boot of the test kernel + initramfs."""
    return kvm_xml(name, uuid, kernel=imgs["vmlinuz"], initrd=imgs["initrd.img"],
                   cmdline=cmdline, **kw)


# ---------------------------------------------------------------------------
# consoles


class ConsoleLog:
    """The file QEMU copies the first serial console into. mark() remembers
    where it ends now; wait() looks for text written after a mark (the whole
    file when it was replaced by a shorter one since)."""

    def __init__(self, path):
        self.path = Path(path)

    def read(self):
        try:
            return self.path.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    def mark(self):
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def since(self, mark=0):
        try:
            data = self.path.read_bytes()
        except OSError:
            return ""
        if len(data) >= mark:
            data = data[mark:]
        return data.decode(errors="replace")

    def count(self, text, mark=0):
        return self.since(mark).count(text)

    def wait(self, text, mark=0, timeout=BOOT_TIMEOUT, count=1, what=None):
        try:
            wait_until(lambda: self.count(text, mark) >= count, timeout,
                       what or f"{text!r} x{count} on {self.path}", interval=0.05)
        except AssertionError:
            tail = self.since(mark)[-2000:]
            raise AssertionError(f"timed out after {timeout}s waiting for {text!r} (x{count}) in "
                                 f"{self.path}; console since the mark:\n{tail}") from None
        return time.monotonic()


def open_console(dom, device="", flags=0):
    """Domain.OpenConsole: returns the file descriptor (ours to close)."""
    try:
        v, fds = dom.client.conn.call_with_unix_fd_list_sync(
            harness.BUS_NAME, dom.path, DOMAIN_IFACE, "OpenConsole",
            GLib.Variant("(st)", (device, flags)), GLib.VariantType("(h)"),
            Gio.DBusCallFlags.NONE, harness.CALL_TIMEOUT_MS, None, None)
    except GLib.Error as e:
        raise DBusCallError.from_glib(e) from None
    (idx,) = v.unpack()
    assert fds is not None and idx < fds.get_length(), "OpenConsole returned no file descriptor"
    return fds.get(idx)


class Console:
    """A console fd from Domain.OpenConsole, in raw mode (a guest's output
    must not be echoed back into it)."""

    def __init__(self, dom, device=""):
        self.fd = open_console(dom, device)
        if os.isatty(self.fd):
            tty.setraw(self.fd, termios.TCSANOW)
        fl = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.buf = b""

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def write(self, text):
        data = text.encode()
        while data:
            try:
                n = os.write(self.fd, data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [self.fd], [], 1.0)

    def _read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the pty's other side went away
            time.sleep(min(timeout, 0.05))
            return False
        self.buf += chunk
        return bool(chunk)

    def drain(self, seconds=0.2):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read_some(max(0.0, end - time.monotonic()))
        out, self.buf = self.buf, b""
        return out

    def expect(self, text, timeout=BOOT_TIMEOUT):
        """Reads until text appears; returns what was read up to it."""
        needle = text.encode()
        end = time.monotonic() + timeout
        while needle not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"console: no {text!r} within {timeout}s; read: "
                                     f"{self.buf[-1000:]!r}")
            self._read_some(min(left, 0.2))
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def command(self, cmd):
        self.write(cmd + "\n")

    def echo(self, token, timeout=10.0):
        """`echo token` in the guest and read it back."""
        self.command(f"echo {token}")
        return self.expect(token, timeout)


def send_command(dom, cmd, linger=0.3):
    """Types one command on the guest's console and closes it again.

    QEMU notices that a client opened its pty only at its next poll (up to
    1 s later) and reads nothing before that; a pty closed again before
    then keeps the typed line unread until the next client opens it. So an
    `echo` round trip first proves QEMU reads, then the command goes, and
    the console closes after `linger` seconds. (Left open and unread, the
    pty would fill and stall the guest's serial output — and with it the
    console.log copy the tests wait on.)"""
    with Console(dom) as con:
        con.echo(token("SYNC"))
        con.command(cmd)
        return con.drain(linger)


def token(prefix="T"):
    return f"{prefix}-{uuidlib.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# a guest with much non-zero memory (a save that lasts long enough to watch)


def _newc_header(name, size, mode=0o100644, ino=1):
    """One cpio "newc" header (+ name, padded to 4 bytes) for size bytes of data."""
    nb = name.encode() + b"\0"
    hdr = ("070701" + "".join("%08X" % v for v in (ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0,
                                                    len(nb), 0))).encode() + nb
    return hdr + b"\0" * ((4 - len(hdr) % 4) % 4)


def ballast_initrd(imgs, mib=512):
    """The test initramfs plus an uncompressed cpio member holding `mib` MiB
    of non-zero bytes: QEMU loads it into guest RAM and the kernel unpacks
    it into its rootfs, so the guest holds ~2×mib MiB that QEMU's migration
    cannot skip as zero pages (a save then takes seconds, not 0.1 s).
    Cached next to the images."""
    base = imgs["initrd.img"]
    out = base.parent / f"initrd-ballast-{mib}.img"
    if out.exists() and out.stat().st_mtime >= base.stat().st_mtime:
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    chunk = b"\x5a" * (1 << 20)
    with open(tmp, "wb") as f:
        data = base.read_bytes()
        f.write(data)
        f.write(b"\0" * ((4 - len(data) % 4) % 4))
        f.write(_newc_header("ballast", mib << 20, ino=7777))
        for _ in range(mib):
            f.write(chunk)
        f.write(_newc_header("TRAILER!!!", 0, mode=0, ino=0))
    os.replace(tmp, out)
    return out

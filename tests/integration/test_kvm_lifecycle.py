# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kvm plugin with real QEMU (TCG unless $DOMAIND_TEST_ACCEL): every
lifecycle method of DESIGN.md / service/LIFECYCLE.md on a real guest (the
test kernel + busybox initramfs of tests/images, direct kernel boot),
events and properties checked, the guest's marker and answers read from its
serial console (the console.log copy and Domain.OpenConsole).

One domaind for the module; one guest ("life") is shared by the tests that
leave it running (the `guest` fixture boots it again when an earlier test
stopped it); tests that need another configuration define their own.
"""

import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (F, HV_IFACE, E_BUSY, E_INVALID_ARGUMENT, E_INVALID_STATE, E_INVALID_XML,
                     E_HYPERVISOR_FAILED, DBusCallError, Recorder, assert_error, assert_ordered,
                     assert_state_precedes_events, domctl_binary, pump, state_of, uuid32,
                     wait_until)
from kvm_helpers import (BOOT_TIMEOUT, EVENT_TIMEOUT, GUEST_MARKER, KVM_HV_PATH, Console,
                         ballast_initrd, disk_xml, kvm_xml, linux_xml, pid_alive, qemu_binary,
                         send_command, token)

KVM = KVM_HV_PATH


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def shared_dom(kvm_env, kvm_images):
    """The persistent guest most tests share (on_reboot=restart,
    on_poweroff=destroy, on_crash=destroy, a pvpanic device)."""
    c = kvm_env.client()
    xml, _u = linux_xml(kvm_images, "life", on_poweroff="destroy", on_reboot="restart",
                        on_crash="destroy", panic=True)
    d = c.define(xml, hv=KVM)
    kvm_env.keep.add(d.path)
    return d


def boot(env, d, flags=0, timeout=BOOT_TIMEOUT):
    """Starts d and waits for its marker on the console."""
    log = env.console_log(d.uuid)
    mark = log.mark()
    d.start(flags)
    log.wait(GUEST_MARKER, mark, timeout)
    return log


@pytest.fixture
def guest(kv, shared_dom):
    """The shared guest, running (booted again when a test before left it
    otherwise), seen from a new connection."""
    c = kv.client()
    d = shared_dom.on(c)
    st = d.state
    if st == "running" and kv.qemu_pid(d.uuid) is None:
        d.destroy()  # "running" without a QEMU: an earlier test found a bug
        st = d.state
    if st != "running":
        if st not in ("shutoff", "saved"):
            d.destroy()
        if d.prop("HasManagedSave"):
            d.managed_save_remove()
        boot(kv, d)
    return d


@pytest.fixture
def kc(kv):
    c = kv.client()
    yield c
    c.close()


def define(c, xml):
    return c.define(xml, hv=KVM)


def no_lifecycle_events(rec, path):
    return [e for e in rec.domain_events(path) if e[0] != "defined"]


# ---------------------------------------------------------------------------
# the hypervisor


def test_hypervisor_object(kc):
    assert KVM in kc.manager("Hypervisors")
    unavailable = dict(kc.manager("UnavailablePlugins"))
    assert "kvm" not in unavailable, unavailable
    props = kc.get_all(KVM, HV_IFACE)
    assert props["Name"] == "kvm"
    assert props["URI"] == "kvm:///system"
    out = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True).stdout
    want = re.search(r"version (\S+)", out).group(1)
    assert props["Version"] == want, (props["Version"], out)
    caps = ET.fromstring(kc.hv_call("GetCapabilities", None, (), "(s)", hv=KVM))
    assert caps.find("./guest/os_type").text == "hvm"
    assert caps.find("./guest/arch").get("name") == "x86_64"
    assert caps.find("./guest/arch/emulator").text == qemu_binary()
    types = {e.get("type") for e in caps.findall("./guest/arch/domain")}
    assert "qemu" in types


# ---------------------------------------------------------------------------
# Start, properties, the process


def test_start_boots_a_real_guest(kv, kc, kvm_images):
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "boot1", vcpus=2, memory_mib=256)
    d = define(kc, xml)
    assert d.path == f"{KVM}/domain/{uuid32(u)}"
    rec.wait_events(d.path, [("defined", "added")], exact=True)
    p = d.props()
    assert (p["State"], p["StateReason"], p["Id"]) == ("shutoff", "unknown", -1)
    assert p["Hypervisor"] == KVM
    assert p["VCPUs"] == 2
    assert p["MaxMemory"] == 262144
    assert p["CPUTime"] == 0
    log = kv.console_log(u)

    rec.clear()
    pend = d.call_async("Start", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, pend, "running", "started", "booted")
    assert pend.elapsed < 10, f"Start took {pend.elapsed:.1f}s"
    assert state_of(d) == ("running", "booted")
    cpu0 = d.prop("CPUTime")
    dom_id = d.id
    assert dom_id > 0
    pid = kv.qemu_pid(u)
    assert pid, f"no QEMU process with {kv.qmp_socket(u)} on its command line"
    t_marker = log.wait(GUEST_MARKER)
    print(f"Start → marker {t_marker - pend.t_start:.2f}s (reply after {pend.elapsed:.3f}s)")

    # CPUTime comes from the live process and grows while the guest runs
    cpu1 = d.prop("CPUTime")
    assert cpu1 > cpu0, (cpu0, cpu1)
    assert cpu1 > 0
    # the process: an argument vector with -S, -no-shutdown, the QMP socket,
    # the accelerator asked for; its own session (it outlives domaind)
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    argv = [a.decode() for a in argv if a]
    assert "-S" in argv, argv
    assert "-no-shutdown" in argv, argv
    assert any(str(kv.qmp_socket(u)) in a for a in argv), argv
    joined = " ".join(argv)
    assert (f"accel={kv.accelerator}" in joined or f"-accel {kv.accelerator}" in joined
            or (kv.accelerator == "kvm" and "-enable-kvm" in argv)), argv
    assert os.getsid(pid) != os.getsid(kv.proc.pid), "QEMU shares domaind's session"
    assert kv.qmp_socket(u).exists()
    # the log has the command line
    qlog = kv.qemu_log(u).read_text(errors="replace")
    assert "starting QEMU:" in qlog and "-no-shutdown" in qlog, qlog[-2000:]
    # live status for a restarted domaind
    assert kv.status_file(u, "kvm").exists()
    # live XML carries the id
    live = ET.fromstring(d.xml())
    assert live.get("id") == str(dom_id)
    assert ET.fromstring(d.xml(F.XML_INACTIVE)).get("id") is None

    rec.clear()
    pend = d.call_async("Destroy", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, pend, "shutoff", "stopped", "destroyed")
    assert state_of(d) == ("shutoff", "destroyed")
    assert d.id == -1
    # Destroy is done when QEMU is gone
    assert not pid_alive(pid), "QEMU still there after Destroy returned"
    assert kv.qemu_pid(u) is None
    assert not kv.status_file(u, "kvm").exists()
    assert_error(d.call_error("Destroy", "t", (0,)), E_INVALID_STATE, "shut")
    d.undefine()


# ---------------------------------------------------------------------------
# the console


def test_console_echo(kv, guest):
    with Console(guest) as con:
        con.drain(0.3)
        t = token("HELLO")
        con.echo(t)
        con.command("no-such-command")
        con.expect("unknown command: no-such-command", 10)
    # by alias; the console follows the guest through a reset (kernel
    # messages, then the marker)
    with Console(guest, "serial0") as con:
        con.echo(token("ALIAS"))
        guest.reset()
        con.expect("Linux version", BOOT_TIMEOUT)
        con.expect(GUEST_MARKER, BOOT_TIMEOUT)
        con.echo(token("AFTER-RESET"))
    assert_error(guest.call_error("OpenConsole", "st", ("no-such-console", 0), "(h)"),
                 E_INVALID_ARGUMENT)


def test_console_one_client_at_a_time(kv, guest):
    """A second OpenConsole is Busy while the first caller holds its fd;
    once that fd is closed the console can be opened again."""
    first = Console(guest)
    try:
        first.echo(token("FIRST"))
        assert_error(guest.call_error("OpenConsole", "st", ("", 0), "(h)"), E_BUSY, "already open")
        assert_error(guest.call_error("OpenConsole", "st", ("serial0", 0), "(h)"), E_BUSY)
    finally:
        first.close()
    deadline = time.monotonic() + 5
    while True:  # domaind sees the socket close on its next loop turn
        try:
            with Console(guest) as again:
                again.echo(token("AGAIN"))
            break
        except DBusCallError as e:
            assert e.name == E_BUSY and time.monotonic() < deadline, e
            time.sleep(0.05)


# ---------------------------------------------------------------------------
# domctl console


class ConsoleProc:
    """`domctl console` as a child process; reads what it writes to fd (its
    stdout, or the master of the pty it runs on) without blocking."""

    def __init__(self, kv, name, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 read_fd=None):
        argv = [str(domctl_binary()), "--bus", kv.address, "--hypervisor", "kvm", "console",
                name, *args]
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        kv.procs.append(self.proc)
        self.fd = read_fd if read_fd is not None else self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""

    def _read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return
        try:
            self.buf += os.read(self.fd, 65536)
        except (BlockingIOError, OSError):  # EIO: the pty's last user is gone
            time.sleep(min(timeout, 0.05))

    def expect(self, text, timeout=BOOT_TIMEOUT):
        needle = text.encode()
        end = time.monotonic() + timeout
        while needle not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not select.select(
                    [self.fd], [], [], 0)[0]):
                raise AssertionError(f"domctl console: no {text!r} within {timeout}s "
                                     f"(exit {self.proc.poll()}); read: {self.buf[-1000:]!r}; "
                                     f"stderr: {self.stderr_now()!r}")
            self._read_some(min(left, 0.2))
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def stderr_now(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace")

    def wait(self, timeout=10.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"domctl console still runs after {timeout}s; "
                                 f"read: {self.buf[-1000:]!r}") from None
        return rc, self.proc.stderr.read().decode(errors="replace")


def test_domctl_console_pipe(kv, guest):
    """Through pipes: typed lines reach the guest, its output comes out,
    also across a reset; Ctrl-] in the input ends it."""
    con = ConsoleProc(kv, "life")
    t = token("PIPE")
    con.proc.stdin.write(f"echo {t}\n".encode())
    con.proc.stdin.flush()
    con.expect(t, 10)
    guest.reset()
    con.expect("Linux version", BOOT_TIMEOUT)
    con.expect(GUEST_MARKER, BOOT_TIMEOUT)
    # what stands before the escape character in the same write still goes
    t = token("LAST")
    con.proc.stdin.write(f"echo {t}\n".encode() + b"\x1d" + b"echo NEVER\n")
    con.proc.stdin.flush()
    rc, err = con.wait()
    assert rc == 0, err
    assert err.startswith("Connected to domain life\nEscape character is ^]\n"), err
    # the line before ^] reached the guest (read on a new console)
    with Console(guest) as c2:
        c2.echo(token("SYNC"))
    assert "NEVER" not in kv.console_log(guest.uuid).read()
    assert t in kv.console_log(guest.uuid).read()


def test_domctl_console_stdin_eof_keeps_reading(kv, guest):
    """</dev/null: the end of the input does not end the session; the
    guest's output keeps coming until SIGTERM, which ends it with 0."""
    with open(os.devnull, "rb") as null:
        con = ConsoleProc(kv, "life", "--devname", "serial0", stdin=null)
    time.sleep(1.5)  # QEMU notices a new pty client at its next 1 s poll
    assert con.proc.poll() is None, con.wait()
    guest.reset()
    con.expect(GUEST_MARKER, BOOT_TIMEOUT)
    assert con.proc.poll() is None
    con.proc.send_signal(signal.SIGTERM)
    rc, err = con.wait(5)
    assert rc == 0, err


def test_domctl_console_ends_with_the_guest(kv, guest):
    con = ConsoleProc(kv, "life")
    t = token("BYE")
    con.proc.stdin.write(f"echo {t}\n".encode())
    con.proc.stdin.flush()
    con.expect(t, 10)
    guest.destroy()
    rc, err = con.wait(10)
    assert rc == 0, err


def test_domctl_console_on_a_terminal(kv, guest):
    """On a tty: raw mode while connected (no echo, no line editing, no
    signals from keys), the terminal restored after Ctrl-] and after
    SIGTERM."""
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        assert before[3] & termios.ICANON and before[3] & termios.ECHO
        for end in ("escape", "sigterm"):
            con = ConsoleProc(kv, "life", stdin=slave, stdout=slave, read_fd=master)
            wait_until(lambda: not termios.tcgetattr(slave)[3] & termios.ICANON, 10,
                       "raw mode on the terminal")
            lflag = termios.tcgetattr(slave)[3]
            assert not lflag & (termios.ECHO | termios.ISIG), lflag
            t = token("TTY")
            os.write(master, f"echo {t}\r".encode())
            con.expect(t, 10)
            if end == "escape":
                os.write(master, b"\x1d")
            else:
                con.proc.send_signal(signal.SIGTERM)
            rc, err = con.wait()
            assert rc == 0, err
            assert "Escape character is ^]" in err
            assert termios.tcgetattr(slave) == before, end
    finally:
        os.close(master)
        os.close(slave)


def test_domctl_console_errors(kv, guest):
    r = kv.domctl("--hypervisor", "kvm", "console", "life", "--devname", "no-such-console")
    assert r.returncode == 1, r
    assert "no console 'no-such-console'" in r.stderr, r.stderr
    assert r.stdout == ""
    r = kv.domctl("--hypervisor", "kvm", "console", "no-such-domain", input="")
    assert r.returncode == 1 and "no-such-domain" in r.stderr, r
    guest.destroy()
    r = kv.domctl("--hypervisor", "kvm", "console", "life", input="")
    assert r.returncode == 1, r
    assert r.stderr.startswith("error: ") and "shutoff" in r.stderr, r.stderr
    assert "Connected" not in r.stderr


# ---------------------------------------------------------------------------
# Suspend / Resume / Reset / Reboot


def test_suspend_resume(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    dom_id, pid = d.id, kv.qemu_pid(d.uuid)
    with Console(d) as con:
        con.drain(0.2)
        p = d.call_async("Suspend", recorder=rec)
        assert_ordered(rec, d.path, p, "paused", "suspended", "paused")
        assert state_of(d) == ("paused", "user")
        t = token("PAUSED")
        con.command(f"echo {t}")
        cpu_a = d.prop("CPUTime")
        out = con.drain(1.0)
        cpu_b = d.prop("CPUTime")
        assert t.encode() not in out, "a paused guest answered on its console"
        assert cpu_b - cpu_a < 500_000_000, f"paused QEMU used {(cpu_b - cpu_a) / 1e9:.2f}s CPU in 1s"
        d.suspend()  # already paused: no-op
        rec.clear()
        p = d.call_async("Resume", recorder=rec)
        assert_ordered(rec, d.path, p, "running", "resumed", "unpaused")
        assert state_of(d) == ("running", "unpaused")
        con.expect(t, 10)  # the command typed while paused runs now
        d.resume()  # running: no-op
    assert rec.domain_events(d.path) == [("resumed", "unpaused")]
    assert (d.id, kv.qemu_pid(d.uuid)) == (dom_id, pid)


def assert_one_boot(log, mark, settle=3.0):
    """Exactly one more boot since mark (SeaBIOS's extra resets must not
    turn into a second reboot)."""
    log.wait(GUEST_MARKER, mark)
    time.sleep(settle)
    n = log.count(GUEST_MARKER, mark)
    assert n == 1, f"{n} boots after one reset/reboot:\n{log.since(mark)[-3000:]}"


def test_reset(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    log = kv.console_log(d.uuid)
    dom_id, pid = d.id, kv.qemu_pid(d.uuid)
    mark = log.mark()
    d.reset()
    assert_one_boot(log, mark)
    assert d.state == "running"
    assert no_lifecycle_events(rec, d.path) == []
    assert (d.id, kv.qemu_pid(d.uuid)) == (dom_id, pid)
    with Console(d) as con:
        con.echo(token("RESET"))


def test_reboot_restart(kv, kc, guest):
    """Reboot: ACPI power button, the power-off is the reboot; on_reboot=restart
    resets the same QEMU: no state change, same Id."""
    rec = Recorder(kc)
    d = guest.on(kc)
    log = kv.console_log(d.uuid)
    dom_id, pid = d.id, kv.qemu_pid(d.uuid)
    mark = log.mark()
    p = d.call_async("Reboot", "t", (0,))
    p.ok()
    assert p.elapsed < 2, f"Reboot took {p.elapsed:.1f}s to return"
    assert_one_boot(log, mark)
    assert d.state == "running"
    assert no_lifecycle_events(rec, d.path) == [], "a reboot with on_reboot=restart changed the state"
    assert (d.id, kv.qemu_pid(d.uuid)) == (dom_id, pid)
    with Console(d) as con:
        con.echo(token("REBOOTED"))


def test_guest_reboot(kv, kc, guest):
    """`reboot` inside the guest → on_reboot=restart: it boots again, same Id."""
    rec = Recorder(kc)
    d = guest.on(kc)
    log = kv.console_log(d.uuid)
    dom_id, pid = d.id, kv.qemu_pid(d.uuid)
    mark = log.mark()
    send_command(d, "reboot")
    assert_one_boot(log, mark)
    with Console(d) as con:
        con.echo(token("GREBOOT"))
    assert d.state == "running"
    assert no_lifecycle_events(rec, d.path) == []
    assert (d.id, kv.qemu_pid(d.uuid)) == (dom_id, pid)


# ---------------------------------------------------------------------------
# Shutdown / guest power-off / on_poweroff, on_reboot


def test_shutdown(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    pid = kv.qemu_pid(d.uuid)
    p = d.call_async("Shutdown", "t", (0,), recorder=rec)
    p.ok()
    assert p.elapsed < 2, f"Shutdown took {p.elapsed:.1f}s to return (must not wait for the guest)"
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    assert assert_state_precedes_events(rec, d.path, "running") == 2
    assert state_of(d) == ("shutoff", "shutdown")
    assert d.id == -1
    wait_until(lambda: not pid_alive(pid), 5, "QEMU gone after the guest powered off")
    assert not kv.qmp_socket(d.uuid).exists()
    assert not kv.status_file(d.uuid, "kvm").exists()
    assert_error(d.call_error("Shutdown", "t", (0,)), E_INVALID_STATE, "shut")


def test_shutdown_right_after_start(kv, kc, shared_dom):
    """system_powerdown before the guest's ACPI handler is up is lost: the
    plugin presses the button again, the guest powers off anyway."""
    rec = Recorder(kc)
    d = shared_dom.on(kc)
    if d.state != "shutoff":
        d.destroy()
    t0 = time.monotonic()
    d.start()
    d.shutdown()
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    print(f"Start+Shutdown → stopped in {time.monotonic() - t0:.1f}s")
    assert state_of(d) == ("shutoff", "shutdown")
    kv.wait_no_qemu(d.uuid)


def test_guest_poweroff(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    send_command(d, "poweroff")
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    assert state_of(d) == ("shutoff", "shutdown")
    kv.wait_no_qemu(d.uuid)


def test_on_poweroff_restart(kv, kc, kvm_images):
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "pwr-restart", on_poweroff="restart")
    d = define(kc, xml)
    log = boot(kv, d)
    id0, pid0 = d.id, kv.qemu_pid(u)
    rec.clear()
    mark = log.mark()
    d.shutdown()
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown"), ("started", "booted")],
                    EVENT_TIMEOUT)
    log.wait(GUEST_MARKER, mark)
    assert state_of(d) == ("running", "booted")
    assert d.id > 0 and d.id != id0
    assert not pid_alive(pid0)
    assert kv.qemu_pid(u) not in (None, pid0)
    d.destroy()
    d.undefine()


def test_on_poweroff_preserve(kv, kc, kvm_images):
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "pwr-preserve", on_poweroff="preserve")
    d = define(kc, xml)
    boot(kv, d)
    pid = kv.qemu_pid(u)
    rec.clear()
    d.shutdown()
    rec.wait_events(d.path, [("shutdown", "finished")], EVENT_TIMEOUT)
    time.sleep(0.5)
    assert rec.domain_events(d.path) == [("shutdown", "finished")]
    assert state_of(d) == ("shutdown", "user")
    assert pid_alive(pid), "on_poweroff=preserve: the VM must be held"
    assert_error(d.call_error("Start", "t", (0,)), E_INVALID_STATE)
    d.destroy()
    assert state_of(d) == ("shutoff", "destroyed")
    kv.wait_no_qemu(u)
    d.undefine()


def test_on_reboot_destroy(kv, kc, kvm_images):
    """on_reboot=destroy: Reboot and a reboot inside the guest stop it."""
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "reboot-destroy", on_reboot="destroy")
    d = define(kc, xml)
    boot(kv, d)
    rec.clear()
    d.reboot()
    rec.wait_events(d.path, [("stopped", "shutdown")], EVENT_TIMEOUT)
    assert state_of(d) == ("shutoff", "shutdown")
    kv.wait_no_qemu(u)
    boot(kv, d)
    rec.clear()
    send_command(d, "reboot")
    rec.wait_events(d.path, [("stopped", "shutdown")], EVENT_TIMEOUT)
    assert state_of(d) == ("shutoff", "shutdown")
    kv.wait_no_qemu(u)
    d.undefine()


# ---------------------------------------------------------------------------
# panic → crashed + on_crash


@pytest.mark.parametrize("action,events,final", [
    ("destroy", [("crashed", "panicked"), ("stopped", "crashed")], ("shutoff", "crashed")),
    ("restart", [("crashed", "panicked"), ("stopped", "crashed"), ("started", "booted")],
     ("running", "booted")),
    ("preserve", [("crashed", "panicked")], ("crashed", "panicked")),
])
def test_guest_panic(kv, kc, kvm_images, action, events, final):
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, f"panic-{action}", on_crash=action, panic=True)
    d = define(kc, xml)
    log = boot(kv, d)
    rec.clear()
    mark = log.mark()
    send_command(d, "panic")
    rec.wait_events(d.path, events, EVENT_TIMEOUT)
    time.sleep(0.3)
    assert no_lifecycle_events(rec, d.path) == events
    assert assert_state_precedes_events(rec, d.path, "running") == len(events)
    assert state_of(d) == final
    if action == "restart":
        log.wait(GUEST_MARKER, mark)
    if action == "destroy":
        kv.wait_no_qemu(u)
    if action == "preserve":
        assert kv.qemu_pid(u) is not None, "on_crash=preserve: the VM must be held"
    if d.state != "shutoff":
        d.destroy()
    kv.wait_no_qemu(u)
    d.undefine()


# ---------------------------------------------------------------------------
# Start PAUSED, Destroy variants, QEMU killed


def test_start_paused(kv, kc, shared_dom):
    rec = Recorder(kc)
    d = shared_dom.on(kc)
    if d.state != "shutoff":
        d.destroy()
    log = kv.console_log(d.uuid)
    mark = log.mark()
    rec.clear()
    d.start(F.START_PAUSED)
    assert rec.domain_events(d.path) == [("started", "booted"), ("suspended", "paused")]
    assert state_of(d) == ("paused", "user")
    assert d.id > 0
    time.sleep(1.5)
    assert log.count(GUEST_MARKER, mark) == 0, "a guest started paused ran"
    d.resume()
    assert state_of(d) == ("running", "unpaused")
    log.wait(GUEST_MARKER, mark)


def test_destroy_graceful_and_paused(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    pid = kv.qemu_pid(d.uuid)
    d.destroy(F.DESTROY_GRACEFUL)
    assert state_of(d) == ("shutoff", "destroyed")
    assert not pid_alive(pid)
    boot(kv, d)
    d.suspend()
    pid = kv.qemu_pid(d.uuid)
    rec.clear()
    d.destroy()
    assert rec.domain_events(d.path) == [("stopped", "destroyed")]
    assert not pid_alive(pid)


def test_destroy_of_a_qemu_that_ignores_sigterm(kv, kc, kvm_images):
    """A stopped (SIGSTOP) QEMU cannot act on SIGTERM: Destroy kills it after
    its grace period; Destroy(GRACEFUL) gives up, the domain stays, and when
    QEMU later goes (the pending SIGTERM), domaind notices."""
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "sigstop")
    d = define(kc, xml)
    boot(kv, d)
    pid = kv.qemu_pid(u)
    rec.clear()
    os.kill(pid, signal.SIGSTOP)
    try:
        p = d.call_async("Destroy", "t", (0,), recorder=rec)
        p.ok(timeout=15)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
    print(f"Destroy of a SIGSTOPped QEMU took {p.elapsed:.2f}s")
    assert 2.0 <= p.elapsed <= 10, p.elapsed
    assert state_of(d) == ("shutoff", "destroyed")
    assert not pid_alive(pid)
    assert rec.domain_events(d.path) == [("stopped", "destroyed")]

    boot(kv, d)
    pid = kv.qemu_pid(d.uuid)
    rec.clear()
    os.kill(pid, signal.SIGSTOP)
    try:
        err = d.call_error("Destroy", "t", (F.DESTROY_GRACEFUL,))
        assert_error(err, E_HYPERVISOR_FAILED)
        assert d.state == "running"
        assert pid_alive(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    # QEMU now acts on the SIGTERM it got: the domain must not stay "running"
    wait_until(lambda: not pid_alive(pid), 5, "QEMU gone after SIGCONT")
    try:
        wait_until(lambda: any(e[0] == "stopped" for e in rec.domain_events(d.path)), 2.0,
                   "a stopped event")
    except AssertionError:
        pass
    final, events = state_of(d), rec.domain_events(d.path)
    if final[0] != "shutoff":
        d.destroy()
    d.undefine()
    assert final[0] == "shutoff" and events and events[-1][0] == "stopped", \
        f"QEMU exited after a failed Destroy(GRACEFUL); domaind shows {final}, events {events}"


def test_qemu_killed_from_outside(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    pid = kv.qemu_pid(d.uuid)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    rec.wait_events(d.path, [("stopped", "crashed")], timeout=1.0)
    print(f"SIGKILL → stopped/crashed in {time.monotonic() - t0:.3f}s")
    assert state_of(d) == ("shutoff", "crashed")
    assert d.id == -1
    assert not kv.status_file(d.uuid, "kvm").exists()
    # and it starts again
    boot(kv, d)
    assert d.state == "running"


# ---------------------------------------------------------------------------
# transient domains, AUTODESTROY


def test_create_transient(kv, kc, kvm_images):
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "transient")
    pend = kc.call_async(KVM, HV_IFACE, "CreateXML", "st", (xml, 0), "(o)", recorder=rec)
    path = pend.ok(timeout=15)
    d = kc.domain(path)
    assert rec.domain_events(path) == [("started", "booted")]
    assert state_of(d) == ("running", "booted")
    assert d.prop("Persistent") is False
    kv.console_log(u).wait(GUEST_MARKER)
    assert_error(d.call_error("Reboot", "t", (0,)), E_INVALID_STATE)
    d.shutdown()
    rec.wait_events(path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    rec.wait_removed(path)
    kv.wait_no_qemu(u)
    assert path not in kc.list_domains()


def test_create_paused_and_autodestroy(kv, kc, kvm_images):
    rec = Recorder(kc)
    owner = kv.client()
    xml, u = linux_xml(kvm_images, "autod")
    d = owner.create(xml, F.CREATE_START_PAUSED | F.CREATE_AUTODESTROY, hv=KVM).on(kc)
    assert state_of(d) == ("paused", "user")
    pid = kv.qemu_pid(u)
    assert pid
    # persistent + START_AUTODESTROY
    xml2, u2 = linux_xml(kvm_images, "autod2")
    d2 = define(kc, xml2)
    d2.on(owner).start(F.START_AUTODESTROY)
    pid2 = kv.qemu_pid(u2)
    owner.close()
    kv.clients.remove(owner)
    rec.wait_removed(d.path)
    rec.wait_events(d2.path, [("stopped", "destroyed")])
    wait_until(lambda: not pid_alive(pid) and not pid_alive(pid2), 5, "QEMUs of AUTODESTROY domains gone")
    assert state_of(d2) == ("shutoff", "destroyed")
    d2.undefine()


# ---------------------------------------------------------------------------
# Save / Restore / ManagedSave


def saves_dir(kv):
    p = kv.tmp / "saves"
    p.mkdir(exist_ok=True)
    return p


def test_save_restore(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    log = kv.console_log(d.uuid)
    folder = saves_dir(kv) / "plain"
    folder.mkdir()
    f = folder / "life.save"
    with Console(d) as con:
        con.echo(token("BEFORE"))
    pid = kv.qemu_pid(d.uuid)
    mark = log.mark()
    rec.clear()
    p = d.call_async("Save", "sst", (str(f), "", 0), recorder=rec)
    assert_ordered(rec, d.path, p, "shutoff", "stopped", "saved")
    print(f"Save took {p.elapsed:.2f}s, {f.stat().st_size >> 20} MiB")
    assert state_of(d) == ("shutoff", "saved")
    assert d.id == -1
    assert not pid_alive(pid)
    assert f.read_bytes()[:12] == b"DomaindSave1"
    assert f.stat().st_size > 1 << 20
    assert os.listdir(folder) == ["life.save"], "temp files left next to the image"
    assert rec.prop_values(d.path, "Job") == ["saving", "none"]

    rec.clear()
    p = kc.call_async(KVM, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)", recorder=rec)
    assert_ordered(rec, d.path, p, "running", "started", "restored")
    print(f"Restore took {p.elapsed:.2f}s")
    assert p.result == d.path
    assert state_of(d) == ("running", "restored")
    assert d.id > 0
    new_pid = kv.qemu_pid(d.uuid)
    assert new_pid not in (None, pid)
    argv = [a.decode() for a in open(f"/proc/{new_pid}/cmdline", "rb").read().split(b"\0")]
    assert "-incoming" in argv and argv[argv.index("-incoming") + 1] == "defer", argv
    # the same guest, not a new boot: its shell still answers
    with Console(d) as con:
        con.echo(token("AFTER"))
    assert log.count(GUEST_MARKER, mark) == 0, "the restored guest booted again"
    # restoring again while it runs
    assert_error(kc.call_error(KVM, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)"),
                 E_INVALID_STATE, "running")


def test_save_restore_paused(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    f = saves_dir(kv) / "paused.save"
    # saved while paused → comes back paused
    d.suspend()
    d.save(f)
    assert state_of(d) == ("shutoff", "saved")
    rec.clear()
    kc.restore(str(f), hv=KVM)
    assert rec.domain_events(d.path) == [("started", "restored"), ("suspended", "restored")]
    assert d.state == "paused"
    with Console(d) as con:
        t = token("WASPAUSED")
        con.command(f"echo {t}")
        assert t.encode() not in con.drain(0.5)
        d.resume()
        assert d.state == "running"
        con.expect(t, 10)
    # SAVE_PAUSED at save time, RUNNING / PAUSED at restore time
    d.save(f, flags=F.SAVE_PAUSED)
    kc.restore(str(f), hv=KVM)
    assert d.state == "paused"
    d.destroy()
    kc.restore(str(f), flags=F.SAVE_RUNNING, hv=KVM)
    assert state_of(d) == ("running", "restored")
    with Console(d) as con:
        con.echo(token("RUNNING"))
    d.save(f)
    kc.restore(str(f), flags=F.SAVE_PAUSED, hv=KVM)
    assert d.state == "paused"
    d.resume()
    with Console(d) as con:
        con.echo(token("RESUMED"))


def test_save_transient_then_restore(kv, kc, kvm_images):
    """Saving a transient domain ends it; Restore brings it back, transient."""
    rec = Recorder(kc)
    xml, u = linux_xml(kvm_images, "save-transient")
    d = kc.create(xml, hv=KVM)
    kv.console_log(u).wait(GUEST_MARKER)
    f = saves_dir(kv) / "transient.save"
    d.save(f, flags=F.SAVE_BYPASS_CACHE)
    rec.wait_removed(d.path)
    kv.wait_no_qemu(u)
    d2 = kc.restore(str(f), hv=KVM)
    assert d2.path == d.path
    assert d2.prop("Persistent") is False
    assert state_of(d2) == ("running", "restored")
    with Console(d2) as con:
        con.echo(token("TRANSIENT-BACK"))
    d2.destroy()
    rec.wait_removed(d.path)
    kv.wait_no_qemu(u)


def test_managed_save(kv, kc, guest):
    rec = Recorder(kc)
    d = guest.on(kc)
    u = d.uuid
    log = kv.console_log(u)
    img = kv.managed_save_file(u, "kvm")
    pid = kv.qemu_pid(u)
    rec.clear()
    p = d.call_async("ManagedSave", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "saved", "stopped", "saved")
    assert state_of(d) == ("saved", "saved")
    assert d.prop("HasManagedSave") is True
    assert d.id == -1
    assert not pid_alive(pid)
    assert img.read_bytes()[:12] == b"DomaindSave1"
    mark = log.mark()
    rec.clear()
    p = d.call_async("Start", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "running", "started", "restored")
    assert state_of(d) == ("running", "restored")
    assert d.prop("HasManagedSave") is False
    assert not img.exists()
    with Console(d) as con:
        con.echo(token("MSAVED"))
    assert log.count(GUEST_MARKER, mark) == 0, "Start of a managed save booted the guest afresh"
    # FORCE_BOOT discards the image and boots
    d.managed_save()
    assert img.exists()
    mark = log.mark()
    rec.clear()
    d.start(F.START_FORCE_BOOT)
    assert rec.domain_events(d.path) == [("started", "booted")]
    assert not img.exists()
    log.wait(GUEST_MARKER, mark)


def test_save_progress_and_abort(kv, kc, kvm_images):
    """A guest with ~1 GiB of non-zero memory, so that the save lasts long
    enough to watch: Job, GetJobInfo, AbortJob (the guest keeps running)."""
    rec = Recorder(kc)
    xml, u = kvm_xml("bigsave", kernel=kvm_images["vmlinuz"], initrd=ballast_initrd(kvm_images),
                     cmdline="console=ttyS0 panic=-1", memory_mib=1536)
    d = define(kc, xml)
    boot(kv, d, timeout=60)
    pid = kv.qemu_pid(u)
    folder = saves_dir(kv) / "big"
    folder.mkdir()
    f = folder / "big.save"
    other = kv.client().domain(d.path)

    # AbortJob while QEMU writes the image
    save = d.call_async("Save", "sst", (str(f), "", 0))
    wait_until(lambda: other.prop("Job") == "saving", 5, "Job == saving")
    wait_until(lambda: save.done or other.job_info()["data-processed"] > 0, 10,
               "GetJobInfo shows progress")
    assert not save.done, "the save ended before it could be watched"
    info = other.job_info()
    assert info["type"] in ("bounded", "unbounded"), info
    assert info["operation"] in ("saving", "save"), info
    assert info["data-total"] >= 512 << 20, info
    other.abort_job()
    err = save.err(timeout=10)
    assert_error(err, E_HYPERVISOR_FAILED)
    assert d.state == "running"
    assert d.prop("Job") == "none"
    assert kv.qemu_pid(u) == pid, "the guest did not keep running after AbortJob"
    assert os.listdir(folder) == [], "the aborted save left files behind"
    with Console(d) as con:
        con.echo(token("ABORTED"))
    assert_error(other.call_error("AbortJob"), E_INVALID_STATE)

    # a whole save, progress watched
    rec.clear()
    save = d.call_async("Save", "sst", (str(f), "", 0), recorder=rec)
    seen = []
    deadline = time.monotonic() + 60
    while not save.done and time.monotonic() < deadline:
        i = other.job_info()
        if i["type"] != "none":
            seen.append((i["data-processed"], i["data-total"], i["data-remaining"]))
        pump(0.05)  # also dispatches the reply of the save
    save.ok(timeout=5)
    print(f"1.5 GiB guest: Save {save.elapsed:.2f}s, {f.stat().st_size >> 20} MiB; progress {seen[:3]}...")
    assert len(seen) >= 2, seen
    processed = [s[0] for s in seen]
    assert processed == sorted(processed), f"progress went backwards: {seen}"
    assert processed[-1] > 0, seen
    assert rec.prop_values(d.path, "Job") == ["saving", "none"]
    assert state_of(d) == ("shutoff", "saved")
    p = kc.call_async(KVM, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)")
    p.ok(timeout=60)
    print(f"Restore {p.elapsed:.2f}s")
    assert state_of(d) == ("running", "restored")
    with Console(d) as con:
        con.echo(token("BIGRESTORED"))
    d.destroy()
    f.unlink()
    d.undefine()


# ---------------------------------------------------------------------------
# bad configurations: a clear error, no QEMU left behind


def kvm_names(kc):
    return [kc.domain(p).name for p in kc.call(KVM, HV_IFACE, "ListDomains", "t", (0,), "(ao)")]


def assert_no_qemu_for(kv, u):
    assert kv.qemu_pid(u) is None, f"a QEMU of {u} was left behind"


def test_unknown_disk_bus_refused_at_define(kv, kc, kvm_images):
    xml, u = linux_xml(kvm_images, "badbus",
                       disks=[disk_xml(kvm_images["bootsector.img"], bus="nosuchbus", readonly=True)])
    err = kc.call_error(KVM, HV_IFACE, "DefineXML", "st", (xml, 0), "(o)")
    assert_error(err, E_INVALID_XML, "nosuchbus")
    err = kc.call_error(KVM, HV_IFACE, "CreateXML", "st", (xml, 0), "(o)")
    assert_error(err, E_INVALID_XML, "nosuchbus")
    assert "badbus" not in kvm_names(kc)
    assert_no_qemu_for(kv, u)


def test_wrong_domain_type_refused(kc, kvm_images):
    xml, _u = linux_xml(kvm_images, "xen-on-kvm", dtype="xen")
    assert_error(kc.call_error(KVM, HV_IFACE, "DefineXML", "st", (xml, 0), "(o)"), E_INVALID_XML)


def define_or_error(kc, xml):
    """(domain, None) or (None, DBusCallError of DefineXML)."""
    try:
        return define(kc, xml), None
    except Exception as e:  # noqa: BLE001
        if getattr(e, "name", None) is None:
            raise
        return None, e


@pytest.mark.parametrize("what", ["disk", "kernel", "emulator"])
def test_missing_file(kv, kc, kvm_images, what):
    """A file that does not exist: InvalidXML at DefineXML if it is checked
    then, else HypervisorFailed at Start; the message names the file either
    way; the domain stays off and no QEMU is left behind."""
    missing = kv.tmp / f"no-such-{what}"  # short: messages may shorten long paths
    kw = {}
    if what == "disk":
        kw["disks"] = [disk_xml(missing)]
    elif what == "kernel":
        kw["kernel"] = missing
    else:
        kw["emulator"] = missing
    xml, u = kvm_xml(f"missing-{what}", kernel=kw.pop("kernel", kvm_images["vmlinuz"]),
                     initrd=kvm_images["initrd.img"], cmdline="console=ttyS0 panic=-1", **kw)
    d, err = define_or_error(kc, xml)
    if err is not None:
        assert_error(err, E_INVALID_XML, str(missing))
    else:
        rec = Recorder(kc)
        err = d.call_error("Start", "t", (0,))
        assert_error(err, E_HYPERVISOR_FAILED, str(missing))
        assert state_of(d)[0] == "shutoff"
        assert d.id == -1
        assert no_lifecycle_events(rec, d.path) == []
        assert not kv.status_file(u, "kvm").exists()
        assert_no_qemu_for(kv, u)
        d.undefine()
    # transient: nothing stays
    err = kc.call_error(KVM, HV_IFACE, "CreateXML", "st", (xml, 0), "(o)")
    assert err.name in (E_INVALID_XML, E_HYPERVISOR_FAILED), err
    assert str(missing) in err.message, err.message
    assert all(kc.domain(p).uuid != u for p in kc.call(KVM, HV_IFACE, "ListDomains", "t", (0,), "(ao)"))
    assert_no_qemu_for(kv, u)


def test_qemu_refuses_at_start(kv, kc, kvm_images, tmp_path):
    """What only QEMU can tell (a raw file declared qcow2): HypervisorFailed
    with QEMU's own words, the domain off, no process left."""
    bad = tmp_path / "not-qcow2.img"
    bad.write_bytes(b"\x01" * 65536)
    xml, u = linux_xml(kvm_images, "qemu-refuses", disks=[disk_xml(bad, fmt="qcow2")])
    d = define(kc, xml)
    err = d.call_error("Start", "t", (0,))
    assert_error(err, E_HYPERVISOR_FAILED, "qcow2")
    assert state_of(d)[0] == "shutoff"
    assert d.id == -1
    assert_no_qemu_for(kv, u)
    assert not kv.status_file(u, "kvm").exists()
    # the log tells what happened
    assert "qcow2" in kv.qemu_log(u).read_text(errors="replace")
    # fixed, it starts
    good = tmp_path / "raw.img"
    good.write_bytes(b"\0" * 65536)
    xml2, _ = linux_xml(kvm_images, "qemu-refuses", uuid=u, disks=[disk_xml(good)])
    define(kc, xml2)
    boot(kv, d)
    d.destroy()
    d.undefine()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""polkit test harness: domaind behind a real polkitd, called by real users.

PolkitEnv (a DomaindEnv) puts in one temporary folder T:

  * a private system-like dbus-daemon (system_bus_conf(): modelled on
    Debian's /usr/share/dbus-1/system.conf: deny own=*, deny method calls
    except to the bus, signals and requested replies allowed, no
    eavesdropping) whose <includedir> T/system.d holds copies of the
    project's data/org.domaind1.conf and of the system's
    org.freedesktop.PolicyKit1.conf;
  * copies of /etc/passwd and /etc/group with the test users added
    (TEST_USERS, free uids/gids >= 61000 checked through NSS). The system's
    /etc is never written: the copies are bind-mounted over /etc/passwd and
    /etc/group in polkitd's private mount namespace only;
  * the real /usr/lib/polkit-1/polkitd, started as root by
    `unshare --mount --propagation private` with T/actions, T/rules.d,
    T/usr-rules.d bind-mounted over polkit's fixed folders (the actions are
    the repository's polkit/org.domaind1.policy); set_rules() rewrites the
    rules file and waits for polkitd's Authority.Changed signal;
    stop_polkitd()/start_polkitd()/pause_polkitd()/resume_polkitd();
  * domaind (root) on that bus, config PolkitTimeoutSec=2;
  * UserClient: a pk_client.py process per (user, name) running with the
    user's uid/gid/groups, which makes calls described in JSON (see
    pk_client.py) and reports error names and times.

Everything is stopped by close(), even after failures. Nothing here writes
below /usr or /etc.
"""

import grp
import json
import os
import pwd
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from gi.repository import Gio, GLib

import harness
from harness import DomaindEnv, REPO_ROOT, TESTS_DIR, _set_pdeathsig, wait_until

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_AUTHORITY_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_AUTHORITY_IFACE = "org.freedesktop.PolicyKit1.Authority"
SYSTEM_PK_BUS_CONF = Path("/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf")
REPO_POLICY = REPO_ROOT / "polkit" / "org.domaind1.policy"

E_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
E_INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
AUTH_ERRORS = (E_ACCESS_DENIED, E_INTERACTIVE)

POLKIT_TIMEOUT_SEC = 2
CONFIG_TEXT = f"[domaind]\nJobWaitTimeoutSec=1\nPolkitTimeoutSec={POLKIT_TIMEOUT_SEC}\n"

# user -> (primary group, supplementary groups); every group is created
TEST_USERS = {
    "dmd-plain": ("dmd-plain", []),
    "dmd-vm": ("dmd-vm", ["dmd-vmusers"]),
    "dmd-lab": ("dmd-lab", ["dmd-lab"]),
}
FIRST_ID = 61000

ACTIONS = {
    # id: (allow_any, allow_inactive, allow_active) — DESIGN.md's table,
    # which polkit/org.domaind1.policy must follow
    "org.domaind1.read": ("yes", "yes", "yes"),
    "org.domaind1.domain.define": ("auth_admin", "auth_admin", "auth_admin_keep"),
    "org.domaind1.domain.control": ("auth_admin", "auth_admin", "auth_admin_keep"),
    "org.domaind1.domain.save": ("auth_admin", "auth_admin", "auth_admin_keep"),
    "org.domaind1.domain.snapshot": ("auth_admin", "auth_admin", "auth_admin_keep"),
    "org.domaind1.domain.migrate": ("auth_admin", "auth_admin", "auth_admin"),
    "org.domaind1.domain.console": ("auth_admin", "auth_admin", "auth_admin_keep"),
    "org.domaind1.storage.manage": ("auth_admin", "auth_admin", "auth_admin"),
}


class Unavailable(Exception):
    """polkit tests cannot run here (not root, no polkitd, EPERM...)."""


def system_bus_conf(listen_path, includedir):
    """A system bus like Debian's system.conf, on our own socket."""
    return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={listen_path}</listen>
  <auth>EXTERNAL</auth>

  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <!-- no eavesdrop="true" anywhere: eavesdropping stays denied -->
  </policy>

  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>

  <limit name="max_replies_per_connection">1024</limit>
  <limit name="reply_timeout">300000</limit>

  <includedir>{includedir}</includedir>
</busconfig>
"""


def _free_ids(count, taken_uids, taken_gids):
    """count ids >= FIRST_ID unused as uid and as gid, according to NSS."""
    out = []
    n = FIRST_ID
    while len(out) < count:
        free = n not in taken_uids and n not in taken_gids
        if free:
            try:
                pwd.getpwuid(n)
                free = False
            except KeyError:
                pass
        if free:
            try:
                grp.getgrgid(n)
                free = False
            except KeyError:
                pass
        if free:
            out.append(n)
        n += 1
    return out


def check_prerequisites():
    if os.geteuid() != 0:
        raise Unavailable("polkit tests need root (to start polkitd and switch users)")
    if not os.access(POLKITD, os.X_OK):
        raise Unavailable(f"{POLKITD} not installed")
    if shutil.which("unshare") is None:
        raise Unavailable("unshare(1) not installed")
    try:
        pwd.getpwnam("polkitd")
    except KeyError:
        raise Unavailable("no 'polkitd' user (getent passwd polkitd fails)") from None
    if not SYSTEM_PK_BUS_CONF.exists():
        raise Unavailable(f"{SYSTEM_PK_BUS_CONF} missing")
    for u in TEST_USERS:
        try:
            pwd.getpwnam(u)
            raise Unavailable(f"user {u} exists on this system; the tests create their own")
        except KeyError:
            pass
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        "mount --bind /proc /proc"], capture_output=True, text=True)
    if r.returncode != 0:
        raise Unavailable(f"cannot bind-mount in a private mount namespace: {r.stderr.strip()}")


class User:
    def __init__(self, name, uid, gid, groups):
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups  # supplementary gids

    def __repr__(self):
        return f"User({self.name} uid={self.uid} gid={self.gid} groups={self.groups})"


class Result:
    """One call's outcome as pk_client.py reports it."""

    def __init__(self, d):
        self.ok = d["ok"]
        self.value = d.get("value")
        self.error = d.get("error")
        self.message = d.get("message", "")
        self.elapsed = d["elapsed"]

    @property
    def outcome(self):
        """"ok" or the error name."""
        return "ok" if self.ok else self.error

    def __repr__(self):
        if self.ok:
            return f"ok({self.value!r}, {self.elapsed:.3f}s)"
        return f"{self.error}({self.message!r}, {self.elapsed:.3f}s)"


def call_spec(path, iface, method, sig=None, args=(), interactive=False, timeout_ms=25000,
              dest=harness.BUS_NAME):
    return {"dest": dest, "path": path, "iface": iface, "method": method, "sig": sig,
            "args": list(args), "interactive": interactive, "timeout_ms": timeout_ms}


def variant(sig, value):
    """An argument of type v for call_spec."""
    return {"$v": [sig, value]}


class UserClient:
    """A pk_client.py process running as `user`, with one bus connection."""

    def __init__(self, env, user, label):
        self.env = env
        self.user = user
        self.label = label
        self.log_path = env.tmp / f"client-{label}.log"
        script = env.tmp / "pk_client.py"
        if not script.exists():
            shutil.copy(TESTS_DIR / "pk_client.py", script)
            script.chmod(0o644)
        child_env = {"PATH": "/usr/bin:/bin", "HOME": str(env.tmp), "LANG": "C.UTF-8",
                     "PYTHONDONTWRITEBYTECODE": "1", "DBUS_SYSTEM_BUS_ADDRESS": env.address,
                     "GIO_USE_VFS": "local"}
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(script), env.address], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=logf, env=child_env, cwd=str(env.tmp),
            user=user.uid, group=user.gid, extra_groups=list(user.groups),
            preexec_fn=_set_pdeathsig)
        logf.close()
        self._buf = b""
        self.unique_name = None
        self.unique_name = self.request({"op": "connect"}, timeout=20)["unique_name"]

    def __repr__(self):
        return f"UserClient({self.label} as {self.user.name}, {self.unique_name})"

    def _readline(self, timeout):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self}: no answer within {timeout}s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"{self}: client exited ({self.proc.poll()}):\n"
                                         + harness.read_log_tail(self.log_path, 50))
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def request(self, req, timeout=40.0):
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        out = json.loads(self._readline(timeout))
        if "exception" in out:
            raise AssertionError(f"{self}: {out['exception']}")
        return out

    def reconnect(self):
        """A new connection (a new unique name, nothing cached for it)."""
        self.unique_name = self.request({"op": "connect"})["unique_name"]
        return self.unique_name

    def identity(self):
        return self.request({"op": "identity"})

    def calls(self, specs, timeout=40.0):
        """Sends all specs at once; returns their Results in order."""
        out = self.request({"op": "calls", "calls": list(specs)}, timeout)
        return [Result(r) for r in out["results"]]

    def start_calls(self, specs):
        """Like calls(), without waiting: finish_calls() collects the
        Results (so several clients can have calls in flight together)."""
        self.proc.stdin.write((json.dumps({"op": "calls", "calls": list(specs)}) + "\n").encode())
        self.proc.stdin.flush()

    def finish_calls(self, timeout=40.0):
        out = json.loads(self._readline(timeout))
        if "exception" in out:
            raise AssertionError(f"{self}: {out['exception']}")
        return [Result(r) for r in out["results"]]

    def call(self, path, iface, method, sig=None, args=(), interactive=False, timeout_ms=25000):
        return self.calls([call_spec(path, iface, method, sig, args, interactive, timeout_ms)])[0]

    def send_and_close(self, specs):
        """Sends the calls, then closes the connection at once (no replies)."""
        self.request({"op": "calls", "calls": list(specs), "close_after_send": True})
        self.unique_name = None

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in (self.proc.stdin, self.proc.stdout):
            try:
                s.close()
            except OSError:
                pass


class PolkitEnv(DomaindEnv):
    """DomaindEnv on a system-like bus, with polkitd and test users."""

    def __init__(self, name="polkit", config_text=CONFIG_TEXT, **kw):
        super().__init__(name=name, config_text=config_text, **kw)
        # the test users connect to T/bus and read T/pk_client.py
        self.tmp.chmod(0o755)
        self.polkitd = None
        self.polkit_log = self.tmp / "polkitd.log"
        self.pk_root = self.tmp / "polkit"
        self.rules_dir = self.pk_root / "rules.d"
        self.rules_file = self.rules_dir / "50-domaind-test.rules"
        self.users = {}
        self.user_clients = []
        self._changed = 0
        self._changed_sub = None
        self._make_users()
        self._make_polkit_dirs()

    # --- files

    def _make_users(self):
        groups = {}
        for primary, extra in TEST_USERS.values():
            for g in [primary] + extra:
                groups.setdefault(g, [])
        ids = _free_ids(len(TEST_USERS) + len(groups), set(), set())
        uids = dict(zip(TEST_USERS, ids))
        gids = dict(zip(groups, ids[len(TEST_USERS):]))
        for u, (primary, extra) in TEST_USERS.items():
            for g in extra:
                groups[g].append(u)
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        if not passwd.endswith("\n"):
            passwd += "\n"
        if not group.endswith("\n"):
            group += "\n"
        for u, (primary, extra) in TEST_USERS.items():
            passwd += f"{u}:x:{uids[u]}:{gids[primary]}:domaind test:/nonexistent:/usr/sbin/nologin\n"
            self.users[u] = User(u, uids[u], gids[primary], [gids[g] for g in extra])
        for g, members in groups.items():
            group += f"{g}:x:{gids[g]}:{','.join(members)}\n"
        self.passwd_copy = self.tmp / "passwd"
        self.group_copy = self.tmp / "group"
        self.passwd_copy.write_text(passwd)
        self.group_copy.write_text(group)
        for p in (self.passwd_copy, self.group_copy):
            p.chmod(0o644)

    def _make_polkit_dirs(self):
        actions = self.pk_root / "actions"
        usr_rules = self.pk_root / "usr-rules.d"
        for d in (self.pk_root, actions, self.rules_dir, usr_rules):
            d.mkdir(exist_ok=True)
            d.chmod(0o755)
        dst = actions / "org.domaind1.policy"
        shutil.copy(REPO_POLICY, dst)
        dst.chmod(0o644)
        self.system_d = self.tmp / "system.d"
        self.system_d.mkdir()
        shutil.copy(REPO_ROOT / "data" / "org.domaind1.conf", self.system_d)
        shutil.copy(SYSTEM_PK_BUS_CONF, self.system_d)
        self.bus_conf = self.tmp / "system-bus.conf"
        self.bus_conf.write_text(system_bus_conf(self.socket, self.system_d))

    def extra_logs(self):
        out = [("polkitd log", self.polkit_log), ("dbus-daemon log", self.bus_log)]
        out += [(f"client {c.label} log", c.log_path) for c in self.user_clients]
        return [(t, p) for t, p in out if p.exists() and p.stat().st_size > 0]

    # --- bus

    def start_bus(self):
        logf = open(self.bus_log, "ab")
        # dbus-daemon refuses connections of uids it cannot resolve (it looks
        # up their groups), so it sees the same passwd/group copies as
        # polkitd, in a private mount namespace of its own
        script = (f"mount --bind {self.passwd_copy} /etc/passwd"
                  f" && mount --bind {self.group_copy} /etc/group"
                  f" && exec dbus-daemon --config-file={self.bus_conf} --nofork --nopidfile"
                  f" --print-address=1")
        self.bus_proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.PIPE, stderr=logf, preexec_fn=_set_pdeathsig)
        logf.close()
        line = self.bus_proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"dbus-daemon did not start: {self.bus_log.read_text()}")
        self.address = line
        self.bus_proc.stdout.close()
        os.chmod(self.socket, 0o777)
        self._changed_sub = self.admin.conn.signal_subscribe(
            None, POLKIT_AUTHORITY_IFACE, "Changed", POLKIT_AUTHORITY_PATH, None,
            Gio.DBusSignalFlags.NONE, self._on_changed, None)
        # the match rule is in place once a round trip has been made
        self.admin.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", None, (), "(s)",
                        dest="org.freedesktop.DBus")

    def _on_changed(self, *_a):
        self._changed += 1

    # --- polkitd

    def start_polkitd(self, timeout=10.0):
        assert self.polkitd is None, "polkitd already running"
        if not self.rules_file.exists():
            self.write_rules("")
        t = self.pk_root
        script = (f"mount --bind {t}/actions /usr/share/polkit-1/actions"
                  f" && mount --bind {t}/rules.d /etc/polkit-1/rules.d"
                  f" && mount --bind {t}/usr-rules.d /usr/share/polkit-1/rules.d"
                  f" && mount --bind {self.passwd_copy} /etc/passwd"
                  f" && mount --bind {self.group_copy} /etc/group"
                  f" && exec {POLKITD} --no-debug")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "DBUS_SYSTEM_BUS_ADDRESS": self.address}
        logf = open(self.polkit_log, "ab")
        logf.write(b"===== polkitd start =====\n")
        logf.flush()
        self.polkitd = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_set_pdeathsig)
        logf.close()
        deadline = time.monotonic() + timeout
        while not self.admin.name_has_owner(POLKIT_NAME):
            if self.polkitd.poll() is not None:
                rc = self.polkitd.returncode
                self.polkitd = None
                log = harness.read_log_tail(self.polkit_log, 30)
                if "not permitted" in log.lower() or "permission denied" in log.lower():
                    raise Unavailable(f"cannot start polkitd in a private mount namespace: {log}")
                raise AssertionError(f"polkitd exited with {rc}:\n{log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"polkitd did not take {POLKIT_NAME} within {timeout}s:\n"
                                     + harness.read_log_tail(self.polkit_log, 30))
            time.sleep(0.01)

    def stop_polkitd(self):
        p = self.polkitd
        if p is None:
            return
        self.polkitd = None
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.bus_proc is not None and self.bus_proc.poll() is None:
            wait_until(lambda: not self.admin.name_has_owner(POLKIT_NAME), 5.0,
                       f"{POLKIT_NAME} released")

    def pause_polkitd(self):
        """SIGSTOP: polkitd keeps its name but answers nothing."""
        self.polkitd.send_signal(signal.SIGSTOP)

    def resume_polkitd(self):
        self.polkitd.send_signal(signal.SIGCONT)

    # --- rules

    def write_rules(self, text):
        tmp = self.rules_dir / ".50-domaind-test.tmp"
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.rename(tmp, self.rules_file)

    def set_rules(self, text, timeout=10.0):
        """Replaces the rules file; waits until polkitd announced the change
        (Authority.Changed), so every later check uses the new rules."""
        if self.rules_file.exists() and self.rules_file.read_text() == text:
            return
        before = self._changed
        self.write_rules(text)
        if self.polkitd is not None:
            wait_until(lambda: self._changed > before, timeout, "polkit Authority.Changed")
            # polkitd may announce one change per inotify event: let them pass
            harness.pump(0.05)

    @property
    def changed_count(self):
        harness.pump()
        return self._changed

    def pk_check(self, bus_name, action, details=None, interactive=False):
        """Asks polkitd directly (as root, for the subject bus_name):
        returns (is_authorized, is_challenge). Checks the harness itself
        (users, groups, rules) without domaind."""
        subject = ("system-bus-name", {"name": GLib.Variant("s", bus_name)})
        r = self.admin.call(POLKIT_AUTHORITY_PATH, POLKIT_AUTHORITY_IFACE, "CheckAuthorization",
                            "(sa{sv})sa{ss}us",
                            (subject, action, details or {}, 1 if interactive else 0, ""),
                            "((bba{ss}))", dest=POLKIT_NAME)
        return r[0], r[1]

    # --- clients

    def user_client(self, user, label=None):
        """A new client process (and connection) running as `user` (one of
        TEST_USERS, or "root")."""
        label = label or f"{user}-{len(self.user_clients)}"
        u = User("root", 0, 0, []) if user == "root" else self.users[user]
        c = UserClient(self, u, label)
        self.user_clients.append(c)
        return c

    # --- start / stop

    def start_all(self):
        self.start_bus()
        self.start_polkitd()
        self.start()

    def close(self, check_exit=True):
        for c in self.user_clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 — cleanup goes on
                pass
        self.user_clients = []
        if self.polkitd is not None and self.polkitd.poll() is None:
            self.polkitd.send_signal(signal.SIGCONT)
        problems = []
        if self.proc is not None:
            try:
                self.stop(expect_rc=0 if check_exit else None)
            except AssertionError as e:
                problems.append(str(e).split("\n")[0])
        try:
            self.stop_polkitd()
        except Exception as e:  # noqa: BLE001
            problems.append(f"stopping polkitd: {e}")
        if self._changed_sub is not None and self._admin is not None:
            self._admin.conn.signal_unsubscribe(self._changed_sub)
            self._changed_sub = None
        return problems + super().close(check_exit)

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration test harness for domaind.

Everything is real: a private dbus-daemon (tests/integration/bus.conf), the
domaind binary of the build tree ($DOMAIND_BUILD_DIR, default "build") with
the plugins it built, real files in a temporary folder. Clients are GLib's
Gio.DBusConnection through PyGObject.

Main pieces:
  DomaindEnv      one temporary folder + dbus-daemon + domaind (start, stop,
                  restart, crash), paths of the files domaind writes, hooks
  Client          a bus connection with call/get/set helpers
  DBusCallError   a failed call: .name (the D-Bus error name) and .message
  Recorder        records signals (and async replies) on one connection in
                  arrival order; tests wait for and assert sequences
  Domain/Snapshot small proxies around an object path
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from pathlib import Path

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = Path(__file__).resolve().parent

BUS_NAME = "org.domaind1"
ROOT_PATH = "/org/domaind1"
TEST_HV_PATH = "/org/domaind1/test"
MANAGER_IFACE = "org.domaind1.Manager"
HV_IFACE = "org.domaind1.Hypervisor"
DOMAIN_IFACE = "org.domaind1.Domain"
SNAPSHOT_IFACE = "org.domaind1.Snapshot"
POOL_IFACE = "org.domaind1.StoragePool"
VOLUME_IFACE = "org.domaind1.StorageVolume"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"

ERR = "org.domaind1.Error."
E_NO_SUCH_DOMAIN = ERR + "NoSuchDomain"
E_NO_SUCH_SNAPSHOT = ERR + "NoSuchSnapshot"
E_INVALID_XML = ERR + "InvalidXML"
E_INVALID_ARGUMENT = ERR + "InvalidArgument"
E_INVALID_STATE = ERR + "InvalidState"
E_ALREADY_EXISTS = ERR + "AlreadyExists"
E_BUSY = ERR + "Busy"
E_NOT_SUPPORTED = ERR + "NotSupported"
E_HYPERVISOR_FAILED = ERR + "HypervisorFailed"
E_UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
E_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"


class F:
    """Flag values of the contract (DESIGN.md)."""

    # ListDomains
    ACTIVE = 1
    INACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    RUNNING = 16
    PAUSED = 32
    SHUTOFF = 64
    OTHER = 128
    MANAGEDSAVE = 256
    NO_MANAGEDSAVE = 512
    AUTOSTART = 1024
    NO_AUTOSTART = 2048
    HAS_SNAPSHOT = 4096
    NO_SNAPSHOT = 8192
    # CreateXML
    CREATE_START_PAUSED = 1
    CREATE_AUTODESTROY = 2
    # Domain.Start
    START_PAUSED = 1
    START_AUTODESTROY = 2
    START_BYPASS_CACHE = 4
    START_FORCE_BOOT = 8
    # Destroy
    DESTROY_GRACEFUL = 1
    # Save / Restore
    SAVE_BYPASS_CACHE = 1
    SAVE_RUNNING = 2
    SAVE_PAUSED = 4
    # GetXMLDesc
    XML_SECURE = 1
    XML_INACTIVE = 2
    XML_MIGRATABLE = 8
    # Undefine
    UNDEFINE_MANAGED_SAVE = 1
    UNDEFINE_SNAPSHOTS_METADATA = 2
    UNDEFINE_NVRAM = 4
    UNDEFINE_KEEP_NVRAM = 8
    UNDEFINE_REMOVE_STORAGE = 1024
    UNDEFINE_WIPE_STORAGE = 2048
    # CreateSnapshot (libvirt VIR_DOMAIN_SNAPSHOT_CREATE_*)
    SNAP_CREATE_HALT = 8
    # ListSnapshots (libvirt VIR_DOMAIN_SNAPSHOT_LIST_*)
    SNAP_LIST_ROOTS = 1
    SNAP_LIST_DESCENDANTS = 1
    SNAP_LIST_LEAVES = 4
    SNAP_LIST_NO_LEAVES = 8
    # Snapshot.Revert
    REVERT_RUNNING = 1
    REVERT_PAUSED = 2
    REVERT_FORCE = 4
    # Snapshot.Delete
    SNAP_DELETE_CHILDREN = 1
    SNAP_DELETE_METADATA_ONLY = 2
    SNAP_DELETE_CHILDREN_ONLY = 4

    UNKNOWN = 1 << 40  # no method knows this bit


DEFAULT_TIMEOUT = 10.0  # seconds, for waits on the daemon
CALL_TIMEOUT_MS = 30000


def build_dir():
    d = Path(os.environ.get("DOMAIND_BUILD_DIR", "build"))
    if not d.is_absolute():
        d = REPO_ROOT / d
    return d


def domaind_binary():
    return build_dir() / "service" / "domaind"


def domctl_binary():
    return build_dir() / "tools" / "domctl"


def plugin_dir():
    return build_dir() / "plugins"


def uuid32(u):
    return u.replace("-", "").lower()


def domain_path(uuid, plugin="test"):
    return f"/org/domaind1/{plugin}/domain/{uuid32(uuid)}"


def path_encode(prefix, name):
    """sd_bus_path_encode(): [A-Za-z0-9] stay, every other byte is _XX, and
    so is a leading digit."""
    if name == "":
        return prefix + "/_"
    out = []
    for i, b in enumerate(name.encode()):
        c = chr(b)
        if c.isascii() and c.isalnum() and not (i == 0 and c.isdigit()):
            out.append(c)
        else:
            out.append("_%02x" % b)
    return prefix + "/" + "".join(out)


def snapshot_path(dom_path, name):
    return path_encode(dom_path + "/snapshot", name)


def _set_pdeathsig():
    # children die with the test process, even when pytest itself is killed
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pump(seconds=0.0):
    """Dispatches whatever is pending in the default main context, for at
    least `seconds`."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + seconds
    while True:
        while ctx.pending():
            ctx.iteration(False)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.002)


def wait_until(pred, timeout=DEFAULT_TIMEOUT, what="condition", interval=0.005):
    """Iterates the main context until pred() is true; AssertionError on
    timeout."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while True:
        while ctx.pending():
            ctx.iteration(False)
        r = pred()
        if r:
            return r
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# XML builders


def domain_xml(name, uuid=None, memory_kib=131072, current_kib=None, vcpus=1,
               on_poweroff=None, on_reboot=None, on_crash=None, extra="",
               dtype="test", description=None):
    parts = [f"<domain type='{dtype}'>", f"  <name>{name}</name>"]
    if uuid:
        parts.append(f"  <uuid>{uuid}</uuid>")
    if description is not None:
        parts.append(f"  <description>{description}</description>")
    parts.append(f"  <memory unit='KiB'>{memory_kib}</memory>")
    if current_kib is not None:
        parts.append(f"  <currentMemory unit='KiB'>{current_kib}</currentMemory>")
    parts.append(f"  <vcpu>{vcpus}</vcpu>")
    parts.append("  <os><type arch='x86_64'>hvm</type></os>")
    if on_poweroff:
        parts.append(f"  <on_poweroff>{on_poweroff}</on_poweroff>")
    if on_reboot:
        parts.append(f"  <on_reboot>{on_reboot}</on_reboot>")
    if on_crash:
        parts.append(f"  <on_crash>{on_crash}</on_crash>")
    if extra:
        parts.append(extra)
    parts.append("</domain>")
    return "\n".join(parts) + "\n"


def snapshot_xml(name=None, description=None):
    s = "<domainsnapshot>"
    if name is not None:
        s += f"<name>{name}</name>"
    if description is not None:
        s += f"<description>{description}</description>"
    return s + "</domainsnapshot>"


def new_uuid():
    return str(uuidlib.uuid4())


def xml_text(xml, xpath):
    el = ET.fromstring(xml).find(xpath)
    return None if el is None else (el.text or "")


# ---------------------------------------------------------------------------
# D-Bus client


class DBusCallError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message

    @classmethod
    def from_glib(cls, e):
        name = Gio.DBusError.get_remote_error(e)
        msg = e.message
        if name:
            prefix = f"GDBus.Error:{name}: "
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
            elif msg.startswith(f"GDBus.Error:{name}"):
                msg = msg[len(f"GDBus.Error:{name}"):]
        else:
            name = f"(local:{e.domain}:{e.code})"
        return cls(name, msg)


def _variant(sig, args):
    if sig is None:
        return None
    if isinstance(args, GLib.Variant):
        return args
    return GLib.Variant(f"({sig})", tuple(args))


class Pending:
    """An asynchronous call in flight."""

    def __init__(self, tag):
        self.tag = tag
        self.done = False
        self.result = None
        self.error = None
        self.t_start = time.monotonic()
        self.t_done = None

    def wait(self, timeout=DEFAULT_TIMEOUT):
        wait_until(lambda: self.done, timeout, f"reply to {self.tag}")
        return self

    def ok(self, timeout=DEFAULT_TIMEOUT):
        """Waits and returns the unpacked result; raises the error."""
        self.wait(timeout)
        if self.error:
            raise self.error
        return self.result

    def err(self, timeout=DEFAULT_TIMEOUT):
        """Waits and returns the DBusCallError (fails if the call worked)."""
        self.wait(timeout)
        assert self.error is not None, f"{self.tag} unexpectedly succeeded: {self.result!r}"
        return self.error

    @property
    def elapsed(self):
        return (self.t_done or time.monotonic()) - self.t_start


class Client:
    """One connection to the private bus."""

    def __init__(self, address):
        self.address = address
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.conn.set_exit_on_close(False)
        self.recorders = []

    @property
    def unique_name(self):
        return self.conn.get_unique_name()

    def close(self):
        for r in list(self.recorders):
            r.stop()
        if not self.conn.is_closed():
            self.conn.flush_sync(None)
            self.conn.close_sync(None)

    # --- calls

    def call(self, path, iface, method, sig=None, args=(), reply="()",
             timeout_ms=CALL_TIMEOUT_MS, dest=BUS_NAME):
        try:
            v = self.conn.call_sync(dest, path, iface, method, _variant(sig, args),
                                    GLib.VariantType(reply), Gio.DBusCallFlags.NONE,
                                    timeout_ms, None)
        except GLib.Error as e:
            raise DBusCallError.from_glib(e) from None
        r = v.unpack()
        if reply == "()":
            return None
        if _single(reply):
            return r[0]
        return r

    def call_error(self, *a, **kw):
        """Makes the call, which must fail; returns the DBusCallError."""
        try:
            r = self.call(*a, **kw)
        except DBusCallError as e:
            return e
        raise AssertionError(f"call {a[1]}.{a[2]} on {a[0]} unexpectedly succeeded: {r!r}")

    def call_async(self, path, iface, method, sig=None, args=(), reply="()",
                   recorder=None, timeout_ms=CALL_TIMEOUT_MS, dest=BUS_NAME):
        """Starts a call; the reply (or error) is recorded in `recorder`
        (which must belong to this connection) in arrival order."""
        p = Pending(f"{iface}.{method}@{path}")

        def done(conn, res, _data):
            p.t_done = time.monotonic()
            try:
                v = conn.call_finish(res)
                r = v.unpack()
                p.result = None if reply == "()" else (r[0] if _single(reply) else r)
            except GLib.Error as e:
                p.error = DBusCallError.from_glib(e)
            p.done = True
            if recorder is not None:
                recorder._append(Ev("reply", path, method=method, error=p.error, pending=p))

        self.conn.call(dest, path, iface, method, _variant(sig, args), GLib.VariantType(reply),
                       Gio.DBusCallFlags.NONE, timeout_ms, None, done, None)
        return p

    # --- properties

    def get(self, path, iface, name):
        return self.call(path, PROPS_IFACE, "Get", "ss", (iface, name), "(v)")

    def get_all(self, path, iface):
        return self.call(path, PROPS_IFACE, "GetAll", "s", (iface,), "(a{sv})")

    def set(self, path, iface, name, variant):
        self.call(path, PROPS_IFACE, "Set", "ssv", (iface, name, variant))

    # --- bus

    def name_has_owner(self, name=BUS_NAME):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                         "s", (name,), "(b)", dest="org.freedesktop.DBus")

    def name_owner(self, name=BUS_NAME):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
                         "s", (name,), "(s)", dest="org.freedesktop.DBus")

    def introspect(self, path):
        return self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect",
                         None, (), "(s)")

    # --- domaind

    def managed_objects(self):
        return self.call(ROOT_PATH, OM_IFACE, "GetManagedObjects", None, (), "(a{oa{sa{sv}}})")

    def manager(self, name):
        return self.get(ROOT_PATH, MANAGER_IFACE, name)

    def list_domains(self, flags=0):
        return sorted(self.call(ROOT_PATH, MANAGER_IFACE, "ListDomains", "t", (flags,), "(ao)"))

    def hv_call(self, method, sig=None, args=(), reply="()", hv=TEST_HV_PATH):
        return self.call(hv, HV_IFACE, method, sig, args, reply)

    def define(self, xml, flags=0, hv=TEST_HV_PATH):
        return Domain(self, self.hv_call("DefineXML", "st", (xml, flags), "(o)", hv))

    def create(self, xml, flags=0, hv=TEST_HV_PATH):
        return Domain(self, self.hv_call("CreateXML", "st", (xml, flags), "(o)", hv))

    def lookup(self, name, hv=TEST_HV_PATH):
        return Domain(self, self.hv_call("LookupByName", "s", (name,), "(o)", hv))

    def restore(self, path, xml="", flags=0, hv=TEST_HV_PATH):
        return Domain(self, self.hv_call("Restore", "sst", (path, xml, flags), "(o)", hv))

    def domain(self, path):
        return Domain(self, path)


def _single(reply):
    """True when the reply type is a tuple of exactly one complete type."""
    inner = reply[1:-1]
    return inner != "" and _complete_type_len(inner, 0) == len(inner)


def _complete_type_len(s, i):
    c = s[i]
    if c == "a":
        return 1 + _complete_type_len(s, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while s[j] != close:
            j += _complete_type_len(s, j)
        return j + 1 - i
    return 1


class Domain:
    """Proxy for one org.domaind1.Domain object."""

    def __init__(self, client, path):
        self.client = client
        self.path = path

    def __repr__(self):
        return f"Domain({self.path})"

    def __eq__(self, other):
        return isinstance(other, Domain) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def on(self, client):
        """The same domain seen from another connection."""
        return Domain(client, self.path)

    def call(self, method, sig=None, args=(), reply="()"):
        return self.client.call(self.path, DOMAIN_IFACE, method, sig, args, reply)

    def call_error(self, method, sig=None, args=(), reply="()"):
        return self.client.call_error(self.path, DOMAIN_IFACE, method, sig, args, reply)

    def call_async(self, method, sig=None, args=(), reply="()", recorder=None):
        return self.client.call_async(self.path, DOMAIN_IFACE, method, sig, args, reply,
                                      recorder=recorder)

    def prop(self, name):
        return self.client.get(self.path, DOMAIN_IFACE, name)

    def props(self):
        return self.client.get_all(self.path, DOMAIN_IFACE)

    def set_autostart(self, on):
        self.client.set(self.path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", on))

    @property
    def state(self):
        return self.prop("State")

    @property
    def reason(self):
        return self.prop("StateReason")

    def state_reason(self):
        p = self.props()
        return (p["State"], p["StateReason"])

    @property
    def uuid(self):
        return self.prop("UUID")

    @property
    def name(self):
        return self.prop("Name")

    @property
    def id(self):
        return self.prop("Id")

    def start(self, flags=0):
        self.call("Start", "t", (flags,))

    def shutdown(self, flags=0):
        self.call("Shutdown", "t", (flags,))

    def reboot(self, flags=0):
        self.call("Reboot", "t", (flags,))

    def reset(self, flags=0):
        self.call("Reset", "t", (flags,))

    def destroy(self, flags=0):
        self.call("Destroy", "t", (flags,))

    def suspend(self):
        self.call("Suspend")

    def resume(self):
        self.call("Resume")

    def save(self, path, xml="", flags=0):
        self.call("Save", "sst", (str(path), xml, flags))

    def managed_save(self, flags=0):
        self.call("ManagedSave", "t", (flags,))

    def managed_save_remove(self, flags=0):
        self.call("ManagedSaveRemove", "t", (flags,))

    def xml(self, flags=0):
        return self.call("GetXMLDesc", "t", (flags,), "(s)")

    def undefine(self, flags=0):
        self.call("Undefine", "t", (flags,))

    def snapshot(self, xml="", flags=0):
        return Snapshot(self.client, self.call("CreateSnapshot", "st", (xml, flags), "(o)"))

    def snapshots(self, flags=0):
        return sorted(self.call("ListSnapshots", "t", (flags,), "(ao)"))

    def abort_job(self):
        self.call("AbortJob")

    def job_info(self):
        return self.call("GetJobInfo", None, (), "(a{sv})")

    def exists(self):
        return self.path in self.client.managed_objects()


class Snapshot:
    def __init__(self, client, path):
        self.client = client
        self.path = path

    def __repr__(self):
        return f"Snapshot({self.path})"

    def __eq__(self, other):
        return isinstance(other, Snapshot) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def call(self, method, sig=None, args=(), reply="()"):
        return self.client.call(self.path, SNAPSHOT_IFACE, method, sig, args, reply)

    def call_error(self, method, sig=None, args=(), reply="()"):
        return self.client.call_error(self.path, SNAPSHOT_IFACE, method, sig, args, reply)

    def prop(self, name):
        return self.client.get(self.path, SNAPSHOT_IFACE, name)

    def props(self):
        return self.client.get_all(self.path, SNAPSHOT_IFACE)

    def xml(self, flags=0):
        return self.call("GetXMLDesc", "t", (flags,), "(s)")

    def revert(self, flags=0):
        self.call("Revert", "t", (flags,))

    def delete(self, flags=0):
        self.call("Delete", "t", (flags,))

    def children(self, flags=0):
        return sorted(self.call("ListChildren", "t", (flags,), "(ao)"))


# ---------------------------------------------------------------------------
# Signal recorder


class Ev:
    """One recorded item: kind is 'prop' (PropertiesChanged), 'event'
    (DomainEvent), 'added'/'removed' (InterfacesAdded/Removed), 'reply' (an
    async call's reply, see Client.call_async) or 'owner'
    (NameOwnerChanged of org.domaind1)."""

    def __init__(self, kind, path, **kw):
        self.kind = kind
        self.path = path
        self.t = time.monotonic()
        self.__dict__.update(kw)

    def __repr__(self):
        extra = {k: v for k, v in self.__dict__.items() if k not in ("kind", "path", "t", "pending")}
        return f"Ev({self.kind} {self.path} {extra})"


class Recorder:
    """Records domaind's signals on one connection, in arrival order."""

    def __init__(self, client):
        self.client = client
        self.events = []
        self._lock = threading.Lock()
        conn = client.conn
        self._subs = [
            conn.signal_subscribe(None, PROPS_IFACE, "PropertiesChanged", None, None,
                                  Gio.DBusSignalFlags.NONE, self._on_props, None),
            conn.signal_subscribe(None, HV_IFACE, "DomainEvent", None, None,
                                  Gio.DBusSignalFlags.NONE, self._on_event, None),
            conn.signal_subscribe(None, OM_IFACE, None, None, None,
                                  Gio.DBusSignalFlags.NONE, self._on_om, None),
            conn.signal_subscribe("org.freedesktop.DBus", "org.freedesktop.DBus",
                                  "NameOwnerChanged", "/org/freedesktop/DBus", BUS_NAME,
                                  Gio.DBusSignalFlags.NONE, self._on_owner, None),
        ]
        client.recorders.append(self)
        # make sure the match rules are in place before the test acts
        client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", None, (), "(s)",
                    dest="org.freedesktop.DBus")

    def stop(self):
        for s in self._subs:
            self.client.conn.signal_unsubscribe(s)
        self._subs = []
        if self in self.client.recorders:
            self.client.recorders.remove(self)

    def _append(self, ev):
        with self._lock:
            self.events.append(ev)

    def _on_props(self, conn, sender, path, iface, member, params, _data):
        i, changed, invalidated = params.unpack()
        self._append(Ev("prop", path, iface=i, changed=changed, invalidated=invalidated))

    def _on_event(self, conn, sender, path, iface, member, params, _data):
        dom, event, detail = params.unpack()
        self._append(Ev("event", dom, hv=path, event=event, detail=detail))

    def _on_om(self, conn, sender, path, iface, member, params, _data):
        if member == "InterfacesAdded":
            p, ifaces = params.unpack()
            self._append(Ev("added", p, ifaces=ifaces))
        elif member == "InterfacesRemoved":
            p, ifaces = params.unpack()
            self._append(Ev("removed", p, ifaces=ifaces))

    def _on_owner(self, conn, sender, path, iface, member, params, _data):
        name, old, new = params.unpack()
        self._append(Ev("owner", name, old=old, new=new))

    # --- queries

    def clear(self):
        pump()
        with self._lock:
            self.events = []

    def snapshot(self):
        pump()
        with self._lock:
            return list(self.events)

    def domain_events(self, path=None):
        return [(e.event, e.detail) for e in self.snapshot()
                if e.kind == "event" and (path is None or e.path == path)]

    def wait_events(self, path, expected, timeout=DEFAULT_TIMEOUT, exact=False):
        """Waits until the DomainEvents for `path` contain `expected` (a list
        of (event, detail)) as a contiguous run starting at the first one
        matching expected[0]; with exact, they must be exactly `expected`."""
        def have():
            got = self.domain_events(path)
            if exact:
                return got == expected if len(got) >= len(expected) else False
            return _contains_run(got, expected)
        try:
            wait_until(have, timeout, f"events {expected} on {path}")
        except AssertionError:
            raise AssertionError(f"expected events {expected} on {path}, got "
                                 f"{self.domain_events(path)}") from None
        if exact:
            assert self.domain_events(path) == expected
        return self.domain_events(path)

    def wait_prop(self, path, name, value, timeout=DEFAULT_TIMEOUT):
        """Waits for a PropertiesChanged on path setting name to value."""
        def have():
            return any(e.kind == "prop" and e.path == path and e.changed.get(name, object()) == value
                       for e in self.snapshot())
        wait_until(have, timeout, f"PropertiesChanged {name}={value!r} on {path}")

    def prop_values(self, path, name):
        """Every value `name` took in PropertiesChanged signals on path."""
        return [e.changed[name] for e in self.snapshot()
                if e.kind == "prop" and e.path == path and name in e.changed]

    def wait_added(self, path, timeout=DEFAULT_TIMEOUT):
        wait_until(lambda: any(e.kind == "added" and e.path == path for e in self.snapshot()),
                   timeout, f"InterfacesAdded {path}")

    def wait_removed(self, path, timeout=DEFAULT_TIMEOUT):
        wait_until(lambda: any(e.kind == "removed" and e.path == path for e in self.snapshot()),
                   timeout, f"InterfacesRemoved {path}")

    def index(self, pred, start=0):
        evs = self.snapshot()
        for i in range(start, len(evs)):
            if pred(evs[i]):
                return i
        return -1


def _contains_run(got, expected):
    if not expected:
        return True
    n = len(expected)
    for i in range(len(got) - n + 1):
        if got[i:i + n] == expected:
            return True
    return False


# ---------------------------------------------------------------------------
# Processes


class DomaindEnv:
    """A temporary folder with a private dbus-daemon and one domaind."""

    def __init__(self, name="env", plugin_dir_override=None, config_text=None):
        self.tmp = Path(tempfile.mkdtemp(prefix="domaind-it-"))
        self.name = name
        self.state_dir = self.tmp / "state"
        self.runtime_dir = self.tmp / "runtime"
        self.state_dir.mkdir()
        self.runtime_dir.mkdir()
        self.config = self.tmp / "domaind.conf"
        self.config.write_text(config_text if config_text is not None
                               else "[domaind]\nJobWaitTimeoutSec=1\n")
        self.plugin_dir = Path(plugin_dir_override) if plugin_dir_override else plugin_dir()
        self.domctl_hypervisor = "test"
        self.socket = self.tmp / "bus"
        self.address = None
        self.bus_proc = None
        self.bus_log = self.tmp / "dbus-daemon.log"
        self.log_path = self.tmp / "domaind.log"
        self.proc = None
        self.starts = 0
        self.exit_codes = []  # of every domaind run that ended
        self.clients = []
        self.procs = []  # other processes to clean up (domctl event loops...)
        self._admin = None

    # --- bus

    def start_bus(self):
        conf = TESTS_DIR / "bus.conf"
        logf = open(self.bus_log, "ab")
        self.bus_proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile",
             "--print-address=1", f"--address=unix:path={self.socket}"],
            stdout=subprocess.PIPE, stderr=logf, preexec_fn=_set_pdeathsig)
        logf.close()
        line = self.bus_proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"dbus-daemon did not start: {self.bus_log.read_text()}")
        self.address = line
        self.bus_proc.stdout.close()

    @property
    def admin(self):
        """A long-lived connection of the harness itself."""
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def client(self):
        c = Client(self.address)
        self.clients.append(c)
        return c

    # --- domaind

    def domaind_argv(self):
        return [str(domaind_binary()), f"--bus={self.address}", f"--state-dir={self.state_dir}",
                f"--runtime-dir={self.runtime_dir}", f"--plugin-dir={self.plugin_dir}",
                f"--config={self.config}"]

    def start(self, wait=True, timeout=20.0):
        if self.address is None:
            self.start_bus()
        assert self.proc is None, "domaind already running"
        binary = domaind_binary()
        if not binary.exists():
            raise RuntimeError(f"{binary} not built (DOMAIND_BUILD_DIR={build_dir()})")
        self.starts += 1
        logf = open(self.log_path, "ab")
        logf.write(f"===== domaind start #{self.starts} =====\n".encode())
        logf.flush()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        self.proc = subprocess.Popen(self.domaind_argv(), stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_set_pdeathsig)
        logf.close()
        if wait:
            self.wait_ready(timeout)
        return self.proc

    def wait_ready(self, timeout=20.0):
        admin = self.admin
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.exit_codes.append(rc)
                self.proc = None
                raise AssertionError(f"domaind exited with {rc} before taking {BUS_NAME}:\n"
                                     + self.log())
            if admin.name_has_owner():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"domaind did not take {BUS_NAME} within {timeout}s:\n"
                                     + self.log())
            time.sleep(0.01)

    def stop(self, timeout=10.0, expect_rc=0):
        """SIGTERM; domaind must exit with expect_rc within timeout."""
        p = self.proc
        if p is None:
            return None
        self.proc = None
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.exit_codes.append("timeout")
            raise AssertionError(f"domaind did not exit within {timeout}s of SIGTERM "
                                 f"(killed)\n" + self.log())
        self.exit_codes.append(rc)
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError(f"domaind exited with {rc} after SIGTERM (expected "
                                 f"{expect_rc})\n" + self.log())
        self._wait_name_gone()
        return rc

    def kill(self):
        """SIGKILL (a crash)."""
        p = self.proc
        if p is None:
            return
        self.proc = None
        p.kill()
        p.wait()
        self.exit_codes.append(-9)
        self._wait_name_gone()

    def _wait_name_gone(self):
        if self._admin is not None:
            wait_until(lambda: not self.admin.name_has_owner(), 5.0,
                       f"{BUS_NAME} released")

    def restart(self):
        self.stop()
        self.start()

    def crash_restart(self):
        self.kill()
        self.start()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no domaind log)"

    # --- files

    def config_file(self, uuid, plugin="test"):
        return self.state_dir / plugin / "domains" / f"{uuid}.xml"

    def autostart_link(self, uuid, plugin="test"):
        return self.state_dir / plugin / "autostart" / f"{uuid}.xml"

    def managed_save_file(self, uuid, plugin="test"):
        return self.state_dir / plugin / "save" / f"{uuid}.save"

    def snapshot_dir(self, uuid, plugin="test"):
        return self.state_dir / plugin / "snapshots" / uuid

    def status_file(self, uuid, plugin="test"):
        return self.runtime_dir / plugin / f"{uuid}.xml"

    def hooks_dir(self):
        return self.runtime_dir / "test" / "hooks"

    def hook(self, uuid, *lines):
        """Writes a test plugin hook file atomically (temp name + rename)."""
        d = self.hooks_dir()
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hook-", dir=d)
        with os.fdopen(fd, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        os.rename(tmp, d / uuid)
        if self.proc is not None:
            # the plugin consumes (deletes) the file once it has applied it
            wait_until(lambda: not os.path.lexists(d / uuid), 5.0, f"hook {lines} consumed")

    def tree(self, root=None):
        """Every file under root (default: state dir) relative, with contents
        for regular files and targets for symlinks — to assert "nothing
        changed"."""
        root = Path(root or self.state_dir)
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                p = Path(dirpath) / n
                rel = str(p.relative_to(root))
                if p.is_symlink():
                    out[rel] = "-> " + os.readlink(p)
                else:
                    try:
                        out[rel] = p.read_bytes()
                    except OSError:
                        out[rel] = None
        return out

    # --- domctl

    def domctl(self, *args, input=None, env=None, timeout=30, check=None):
        e = dict(os.environ)
        e.update(env or {})
        e["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        # more than one hypervisor may be published (kvm.so in the build): say which
        hv = [] if "--hypervisor" in args else ["--hypervisor", self.domctl_hypervisor]
        r = subprocess.run([str(domctl_binary()), "--bus", self.address, *hv, *map(str, args)],
                           input=input, capture_output=True, text=True, env=e, timeout=timeout,
                           cwd=self.tmp)
        if check is True and r.returncode != 0:
            raise AssertionError(f"domctl {' '.join(map(str, args))} failed ({r.returncode}):\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def spawn(self, argv, **kw):
        """A long-running helper process; killed at cleanup."""
        e = dict(os.environ)
        e["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=e, preexec_fn=_set_pdeathsig, **kw)
        self.procs.append(p)
        return p

    # --- cleanup

    def close(self, check_exit=True):
        """Stops everything. Returns a list of problems (domaind's exit)."""
        problems = []
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for s in (p.stdout, p.stderr):
                try:
                    s and s.close()
                except OSError:
                    pass
        self.procs = []
        if self.proc is not None:
            try:
                self.stop(expect_rc=0 if check_exit else None)
            except AssertionError as e:
                problems.append(str(e).split("\n")[0])
        for c in self.clients:
            try:
                c.close()
            except GLib.Error:
                pass
        self.clients = []
        self._admin = None
        pump()
        if self.bus_proc is not None:
            if self.bus_proc.poll() is None:
                self.bus_proc.terminate()
                try:
                    self.bus_proc.wait(3)
                except subprocess.TimeoutExpired:
                    self.bus_proc.kill()
                    self.bus_proc.wait()
            self.bus_proc = None
        return problems

    def remove_tmp(self):
        if os.environ.get("DOMAIND_KEEP_TMP"):
            sys.stderr.write(f"keeping {self.tmp}\n")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Introspection XML


def parse_interfaces(xml_text_):
    """{iface: {"methods": {name: [(type, direction)]}, "properties": {name:
    (type, access)}, "signals": {name: [type]}}} — annotations and arg names
    ignored."""
    root = ET.fromstring(xml_text_)
    out = {}
    ifaces = [root] if root.tag == "interface" else root.findall("interface")
    for i in ifaces:
        d = {"methods": {}, "properties": {}, "signals": {}}
        for m in i.findall("method"):
            d["methods"][m.get("name")] = [(a.get("type"), a.get("direction") or "in")
                                           for a in m.findall("arg")]
        for p in i.findall("property"):
            d["properties"][p.get("name")] = (p.get("type"), p.get("access"))
        for s in i.findall("signal"):
            d["signals"][s.get("name")] = [a.get("type") for a in s.findall("arg")]
        out[i.get("name")] = d
    return out


def child_nodes(xml_text_):
    return [n.get("name") for n in ET.fromstring(xml_text_).findall("node")]


def read_log_tail(path, n=200):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def strip_ws(s):
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------------------
# Small scenario helpers shared by the tests


def state_of(dom):
    p = dom.props()
    return p["State"], p["StateReason"]


def assert_error(err, name, *substrings):
    assert isinstance(err, DBusCallError), err
    assert err.name == name, f"expected {name}, got {err.name}: {err.message}"
    for s in substrings:
        assert s.lower() in err.message.lower(), \
            f"{name} message {err.message!r} does not mention {s!r}"
    return err


def order_of(rec, path, pending, state=None, event=None, detail=None):
    """Indexes of (PropertiesChanged carrying State=state on path,
    DomainEvent (event, detail) for path, the reply of pending) in rec."""
    evs = rec.snapshot()
    i_prop = i_ev = i_reply = -1
    for i, e in enumerate(evs):
        if (i_prop < 0 and state is not None and e.kind == "prop" and e.path == path
                and e.changed.get("State") == state):
            i_prop = i
        if (i_ev < 0 and event is not None and e.kind == "event" and e.path == path
                and e.event == event and (detail is None or e.detail == detail)):
            i_ev = i
        if i_reply < 0 and e.kind == "reply" and e.pending is pending:
            i_reply = i
    return i_prop, i_ev, i_reply, evs


def assert_ordered(rec, path, pending, state, event, detail):
    """PropertiesChanged(State=state) < DomainEvent(event, detail) < reply."""
    pending.ok()
    i_prop, i_ev, i_reply, evs = order_of(rec, path, pending, state, event, detail)
    msg = "\n".join(map(repr, evs))
    assert i_prop >= 0, f"no PropertiesChanged State={state!r} on {path}:\n{msg}"
    assert i_ev >= 0, f"no DomainEvent {event}/{detail} for {path}:\n{msg}"
    assert i_reply >= 0, f"reply not recorded:\n{msg}"
    assert i_prop < i_ev < i_reply, \
        f"order must be PropertiesChanged < DomainEvent < reply, got {i_prop}, {i_ev}, {i_reply}:\n{msg}"


_counter = [0]


def unique(prefix="dom"):
    _counter[0] += 1
    return f"{prefix}{_counter[0]}"


# the State a domain must show (PropertiesChanged already sent) when each
# DomainEvent arrives
EVENT_STATES = {
    "started": ("running", "paused"),
    "suspended": ("paused",),
    "resumed": ("running",),
    "stopped": ("shutoff", "saved"),
    "shutdown": ("shutdown", "shutoff"),
    "crashed": ("crashed", "shutoff"),
}


def assert_state_precedes_events(rec, path, initial=None):
    """For every lifecycle DomainEvent of path recorded in rec, the last
    PropertiesChanged State of path before it is a state the event leads to
    (a client reacting to the event reads the new state)."""
    state = initial
    evs = rec.snapshot()
    checked = 0
    for e in evs:
        if e.path != path:
            continue
        if e.kind == "prop" and "State" in e.changed:
            state = e.changed["State"]
        elif e.kind == "event" and e.event in EVENT_STATES:
            assert state in EVENT_STATES[e.event], (
                f"DomainEvent {e.event}/{e.detail} arrived while the last State sent was "
                f"{state!r}:\n" + "\n".join(map(repr, evs)))
            checked += 1
    return checked

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage pools and volumes (service/STORAGE.md).

  pools     the default pool of the first start, directory pools (define,
            persist, statvfs figures, Refresh, Undefine, a vanished folder)
  volumes   CreateVolumeXML (sparse / allocated raw, qcow2, units), lists,
            lookups, XML, Resize, Delete
  wipe      the data is really gone (pattern scan over the whole file), raw
            and qcow2, algorithms, volumes in use, progress through
            GetJobInfo while the loop keeps answering
  domains   Domain.Undefine with REMOVE_STORAGE / WIPE_STORAGE
  bad input the right error, naming the value, and nothing left behind
            (no volume, no temp file, no config)

polkit is covered by test_polkit.py.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

import pytest

from harness import (F, ERR, ROOT_PATH, MANAGER_IFACE, TEST_HV_PATH, HV_IFACE, POOL_IFACE, VOLUME_IFACE,
                     E_INVALID_XML, E_INVALID_ARGUMENT, E_INVALID_STATE, E_ALREADY_EXISTS,
                     E_BUSY, E_NOT_SUPPORTED, E_NO_SUCH_DOMAIN, E_UNKNOWN_OBJECT,
                     E_UNKNOWN_METHOD, DBusCallError, domain_xml, new_uuid,
                     assert_error, wait_until, pump, state_of)

E_NO_SUCH_POOL = ERR + "NoSuchPool"
E_NO_SUCH_VOLUME = ERR + "NoSuchVolume"
# a call on an object that is gone
GONE = (E_UNKNOWN_OBJECT, E_UNKNOWN_METHOD, E_NO_SUCH_VOLUME, E_NO_SUCH_POOL)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
EiB = 1 << 60

POOL_ROOT = ROOT_PATH + "/pool"

needs_qemu_img = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
    reason="qemu-img / qemu-io not installed (tests/install-deps)")


# ---------------------------------------------------------------------------
# Object paths and proxies


def bus_path_encode(prefix, name):
    """sd_bus_path_encode(): letters stay, digits stay unless first, every
    other byte is _XX; "" is "_". (harness.path_encode misses the leading
    digit rule.)"""
    if name == "":
        return prefix + "/_"
    out = []
    for i, b in enumerate(name.encode()):
        ch = chr(b)
        if ch.isascii() and (ch.isalpha() or (ch.isdigit() and i > 0)):
            out.append(ch)
        else:
            out.append("_%02x" % b)
    return prefix + "/" + "".join(out)


def pool_path(name):
    return bus_path_encode(POOL_ROOT, name)


def volume_path(pool_name, name):
    return bus_path_encode(pool_path(pool_name) + "/volume", name)


class _Obj:
    IFACE = None

    def __init__(self, client, path):
        self.client = client
        self.path = path

    def __repr__(self):
        return f"{type(self).__name__}({self.path})"

    def __eq__(self, other):
        return type(other) is type(self) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def on(self, client):
        return type(self)(client, self.path)

    def call(self, method, sig=None, args=(), reply="()", **kw):
        return self.client.call(self.path, self.IFACE, method, sig, args, reply, **kw)

    def call_error(self, method, sig=None, args=(), reply="()"):
        return self.client.call_error(self.path, self.IFACE, method, sig, args, reply)

    def call_async(self, method, sig=None, args=(), reply="()", recorder=None, **kw):
        return self.client.call_async(self.path, self.IFACE, method, sig, args, reply,
                                      recorder=recorder, **kw)

    def prop(self, name):
        return self.client.get(self.path, self.IFACE, name)

    def props(self):
        return self.client.get_all(self.path, self.IFACE)

    def exists(self):
        return self.path in self.client.managed_objects()


class Pool(_Obj):
    IFACE = POOL_IFACE

    def refresh(self):
        self.call("Refresh")

    def create_volume(self, xml, flags=0):
        return Volume(self.client, self.call("CreateVolumeXML", "st", (xml, flags), "(o)"))

    def create_volume_error(self, xml, flags=0):
        return self.call_error("CreateVolumeXML", "st", (xml, flags), "(o)")

    def volumes(self):
        return sorted(self.call("ListVolumes", None, (), "(ao)"))

    def lookup_volume(self, name):
        return Volume(self.client, self.call("LookupVolume", "s", (name,), "(o)"))

    def xml(self, flags=0):
        return self.call("GetXMLDesc", "t", (flags,), "(s)")

    def undefine(self):
        self.call("Undefine")


class Volume(_Obj):
    IFACE = VOLUME_IFACE

    def wipe(self, algorithm=0, flags=0, timeout_ms=120000):
        self.call("Wipe", "ut", (algorithm, flags), timeout_ms=timeout_ms)

    def wipe_error(self, algorithm=0, flags=0):
        return self.call_error("Wipe", "ut", (algorithm, flags))

    def delete(self, flags=0):
        self.call("Delete", "t", (flags,))

    def resize(self, capacity, flags=0):
        self.call("Resize", "tt", (capacity, flags))

    def xml(self, flags=0):
        return self.call("GetXMLDesc", "t", (flags,), "(s)")

    def job_info(self):
        return self.call("GetJobInfo", None, (), "(a{sv})")


def list_pools(c):
    return sorted(c.call(ROOT_PATH, MANAGER_IFACE, "ListPools", None, (), "(ao)"))


def lookup_pool(c, name):
    return Pool(c, c.call(ROOT_PATH, MANAGER_IFACE, "LookupPool", "s", (name,), "(o)"))


def lookup_pool_error(c, name):
    return c.call_error(ROOT_PATH, MANAGER_IFACE, "LookupPool", "s", (name,), "(o)")


def define_pool_xml(c, xml, flags=0):
    return Pool(c, c.call(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st", (xml, flags), "(o)"))


def define_pool_error(c, xml, flags=0):
    return c.call_error(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st", (xml, flags), "(o)")


def define_pool(c, name, folder, uuid=None):
    return define_pool_xml(c, pool_xml(name, folder, uuid))


# ---------------------------------------------------------------------------
# XML


def pool_xml(name, folder, uuid=None, ptype="dir"):
    parts = [f"<pool type='{ptype}'>"]
    if name is not None:
        parts.append(f"<name>{name}</name>")
    if uuid is not None:
        parts.append(f"<uuid>{uuid}</uuid>")
    if folder is not None:
        parts.append(f"<target><path>{folder}</path></target>")
    parts.append("</pool>")
    return "".join(parts)


def vol_xml(name, capacity, unit=None, allocation=None, alloc_unit=None, fmt=None):
    parts = ["<volume>"]
    if name is not None:
        parts.append(f"<name>{name}</name>")
    if capacity is not None:
        u = f" unit='{unit}'" if unit else ""
        parts.append(f"<capacity{u}>{capacity}</capacity>")
    if allocation is not None:
        u = f" unit='{alloc_unit}'" if alloc_unit else ""
        parts.append(f"<allocation{u}>{allocation}</allocation>")
    if fmt is not None:
        parts.append(f"<target><format type='{fmt}'/></target>")
    parts.append("</volume>")
    return "".join(parts)


XML_UNITS = {"b": 1, "bytes": 1, "k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB,
             "gib": GiB, "t": 1 << 40, "tib": 1 << 40, "kb": 1000, "mb": 10 ** 6,
             "gb": 10 ** 9, "tb": 10 ** 12}


def xml_size(el):
    assert el is not None
    return int(el.text.strip()) * XML_UNITS[(el.get("unit") or "bytes").lower()]


def disks_xml(*paths):
    devs = "".join(f"<disk type='file' device='disk'><source file='{p}'/>"
                   f"<target dev='vd{chr(ord('a') + i)}' bus='virtio'/></disk>"
                   for i, p in enumerate(paths))
    return f"<devices>{devs}</devices>"


# ---------------------------------------------------------------------------
# Files


def allocated(path):
    return os.stat(path).st_blocks * 512


def entries(folder):
    """Every name in folder, hidden ones included."""
    return sorted(os.listdir(folder))


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def is_all_zero(path):
    zero = bytes(4 * MiB)
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return True
            if b != zero[:len(b)]:
                return False


def qemu_img_info(path):
    r = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"qemu-img info {path}: {r.stderr}"
    return json.loads(r.stdout)


def qemu_img_check(path):
    r = subprocess.run(["qemu-img", "check", str(path)], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


def qemu_io(path, *commands):
    argv = ["qemu-io", "-f", "qcow2"]
    for cmd in commands:
        argv += ["-c", cmd]
    r = subprocess.run(argv + [str(path)], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def statvfs_figures(folder):
    s = os.statvfs(folder)
    return s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize


# A 16-byte marker written in runs into a volume; after a wipe not one copy
# may remain.
MARKER = b"WIPE\x00ME\xffPATTERN!"
assert len(MARKER) == 16
PATTERN_RUN = 2 * MiB
PATTERN_OFFSETS = (0, 10 * MiB + 4096 + 7, 33 * MiB + 1, 62 * MiB)  # 8 MiB of a 64 MiB file


def write_pattern(path, offsets=PATTERN_OFFSETS, run=PATTERN_RUN):
    """Writes the marker runs in place; returns how many markers."""
    block = MARKER * (run // len(MARKER))
    fd = os.open(path, os.O_WRONLY)
    try:
        for off in offsets:
            assert os.pwrite(fd, block, off) == len(block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(offsets) * (run // len(MARKER))


class StorageUnchanged:
    """Captures the storage objects (pools, volumes and their properties),
    the listings of some folders (hidden names included) and the storage
    config folder; .check() asserts they are the same."""

    def __init__(self, env, c, *folders):
        self.env, self.c, self.folders = env, c, folders
        self.before = self.capture()

    def capture(self):
        objs = {}
        for p, ifaces in self.c.managed_objects().items():
            if p == POOL_ROOT or p.startswith(POOL_ROOT + "/"):
                ifaces = {k: dict(v) for k, v in ifaces.items()}
                ifaces.get(POOL_IFACE, {}).pop("Available", None)  # other writers
                objs[p] = ifaces
        listings = {str(f): entries(f) for f in self.folders}
        return objs, listings, self.env.tree(self.env.state_dir / "storage")

    def check(self):
        after = self.capture()
        assert after[0] == self.before[0], "storage objects or their properties changed"
        assert after[1] == self.before[1], "files appeared or vanished in a pool folder"
        assert after[2] == self.before[2], "the storage config folder changed"


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def folder(env):
    d = env.tmp / "pools" / "tp"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def pool(c, folder):
    return define_pool(c, "tp", str(folder))


def pool_config(env, name):
    return env.state_dir / "storage" / "pools" / f"{name}.xml"


def added_event(rec, path):
    rec.wait_added(path)
    return [e for e in rec.snapshot() if e.kind == "added" and e.path == path][0]


# ===========================================================================
# Pools


def test_default_pool_at_first_start(env, c):
    images = env.state_dir / "images"
    assert images.is_dir(), "the default pool's folder was not created"
    assert stat.S_IMODE(images.stat().st_mode) == 0o711, oct(images.stat().st_mode)
    cfg = pool_config(env, "default")
    assert cfg.is_file()
    x = ET.fromstring(cfg.read_text())
    assert x.tag == "pool" and x.get("type") == "dir"
    assert x.find("name").text == "default"
    assert x.find("target/path").text == str(images)
    assert uuidlib.UUID(x.find("uuid").text)
    assert [n for n in entries(cfg.parent) if n.startswith(".")] == [], "temp files left"

    p = lookup_pool(c, "default")
    assert p.path == "/org/domaind1/pool/default"
    assert list_pools(c) == [p.path]
    props = p.props()
    assert props["Name"] == "default"
    assert props["Path"] == str(images)
    assert props["Active"] is True
    assert props["Autostart"] is True
    assert props["Allocation"] == 0
    assert p.volumes() == []
    # GetManagedObjects carries every property
    assert c.managed_objects()[p.path][POOL_IFACE]["Path"] == str(images)
    xd = ET.fromstring(p.xml())
    assert xd.get("type") == "dir" and xd.find("name").text == "default"
    assert xd.find("uuid").text == x.find("uuid").text
    assert xd.find("target/path").text == str(images)


def test_default_pool_undefine_sticks(env, c, rec):
    images = env.state_dir / "images"
    (images / "keep.img").write_bytes(b"k" * 4096)
    p = lookup_pool(c, "default")
    p.refresh()
    vol = volume_path("default", "keep.img")
    assert p.volumes() == [vol]
    rec.clear()
    p.undefine()
    rec.wait_removed(p.path)
    rec.wait_removed(vol)
    assert not pool_config(env, "default").exists()
    assert_error(lookup_pool_error(c, "default"), E_NO_SUCH_POOL, "default")
    assert list_pools(c) == []
    assert (images / "keep.img").read_bytes() == b"k" * 4096, "Undefine touched the files"

    env.restart()
    c2 = env.client()
    assert list_pools(c2) == [], "the default pool came back after a restart"
    assert_error(lookup_pool_error(c2, "default"), E_NO_SUCH_POOL)
    assert not pool_config(env, "default").exists()
    assert (images / "keep.img").exists()


def test_define_pool(env, c, rec, folder):
    u = new_uuid()
    rec.clear()
    p = define_pool(c, "test-pool", str(folder), uuid=u)
    assert p.path == pool_path("test-pool") == "/org/domaind1/pool/test_2dpool"
    added = added_event(rec, p.path)
    assert added.ifaces[POOL_IFACE]["Name"] == "test-pool"
    assert added.ifaces[POOL_IFACE]["Path"] == str(folder)
    assert added.ifaces[POOL_IFACE]["Active"] is True

    cfg = pool_config(env, "test-pool")
    assert cfg.is_file()
    x = ET.fromstring(cfg.read_text())
    assert x.tag == "pool" and x.get("type") == "dir"
    assert x.find("name").text == "test-pool"
    assert x.find("uuid").text == u
    assert x.find("target/path").text == str(folder)
    assert entries(cfg.parent) == ["default.xml", "test-pool.xml"], "temp files left"

    assert lookup_pool(c, "test-pool") == p
    assert list_pools(c) == sorted([pool_path("default"), p.path])
    props = p.props()
    assert (props["Name"], props["Path"], props["Active"], props["Autostart"]) == \
        ("test-pool", str(folder), True, True)
    xd = ET.fromstring(p.xml())
    assert xd.tag == "pool" and xd.get("type") == "dir"
    assert xd.find("name").text == "test-pool"
    assert xd.find("uuid").text == u
    assert xd.find("target/path").text == str(folder)
    assert_error(p.call_error("GetXMLDesc", "t", (F.UNKNOWN,), "(s)"), E_INVALID_ARGUMENT)

    v = p.create_volume(vol_xml("kept.img", 1, "M"))

    env.restart()
    c2 = env.client()
    p2 = lookup_pool(c2, "test-pool")
    assert p2.path == p.path
    assert list_pools(c2) == sorted([pool_path("default"), p.path])
    props2 = p2.props()
    assert (props2["Name"], props2["Path"], props2["Active"]) == ("test-pool", str(folder), True)
    assert ET.fromstring(p2.xml()).find("uuid").text == u
    assert p2.volumes() == [v.path]
    assert v.on(c2).prop("Capacity") == MiB


def test_define_pool_generates_uuid(env, c, folder):
    p = define_pool(c, "nouuid", str(folder))
    u = ET.fromstring(p.xml()).find("uuid").text
    assert uuidlib.UUID(u)
    assert ET.fromstring(pool_config(env, "nouuid").read_text()).find("uuid").text == u
    env.restart()
    assert ET.fromstring(p.on(env.client()).xml()).find("uuid").text == u, \
        "the generated UUID changed across a restart"


def test_pool_figures(env, c, pool, folder):
    full = pool.create_volume(vol_xml("full.img", 4, "M", allocation=4096, alloc_unit="KiB"))
    sparse = pool.create_volume(vol_xml("sparse.img", 16, "M"))
    (folder / "ext.img").write_bytes(os.urandom(300 * KiB))
    cap_before, avail_before = statvfs_figures(folder)
    pool.refresh()
    props = pool.props()
    cap_after, avail_after = statvfs_figures(folder)

    vols = [Volume(c, p) for p in pool.volumes()]
    assert sorted(v.prop("Name") for v in vols) == ["ext.img", "full.img", "sparse.img"]
    for v in vols:
        assert v.prop("Allocation") == allocated(folder / v.prop("Name")), v
    assert full.prop("Allocation") >= 4 * MiB
    assert sparse.prop("Allocation") < MiB
    assert props["Allocation"] == sum(v.prop("Allocation") for v in vols)

    assert cap_before == cap_after
    assert props["Capacity"] == cap_after, "Capacity is not statvfs f_blocks * f_frsize"
    # Available moves with whatever else writes on this file system
    slack = 64 * MiB
    lo, hi = min(avail_before, avail_after) - slack, max(avail_before, avail_after) + slack
    assert lo <= props["Available"] <= hi, \
        f"Available {props['Available']} is not statvfs f_bavail * f_frsize ({avail_after})"
    assert props["Available"] < props["Capacity"]


def test_refresh(env, c, rec, pool, folder):
    ext = folder / "ext.img"
    ext.write_bytes(b"\x01" * MiB)
    qc = folder / "ext.qcow2"
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qc), "32M"], check=True)
    # none of these is a volume
    (folder / ".hidden-tmp").write_bytes(b"h")
    (folder / "subdir").mkdir()
    (folder / "subdir" / "inner.img").write_bytes(b"i")
    os.mkfifo(folder / "fifo")
    rec.clear()
    pool.refresh()
    v = Volume(c, volume_path("tp", "ext.img"))
    rec.wait_added(v.path)
    expect = [v.path]
    pv = v.props()
    assert pv["Name"] == "ext.img"
    assert pv["Path"] == str(ext)
    assert pv["Format"] == "raw"
    assert pv["Capacity"] == MiB
    assert pv["Allocation"] == allocated(ext)
    if qc.exists():
        q = Volume(c, volume_path("tp", "ext.qcow2"))
        rec.wait_added(q.path)
        expect.append(q.path)
        pq = q.props()
        assert pq["Format"] == "qcow2"
        assert pq["Capacity"] == 32 * MiB, "a qcow2 volume's capacity is its virtual size"
        assert pq["Allocation"] == allocated(qc)
    assert pool.volumes() == sorted(expect)
    assert pool.lookup_volume("ext.img") == v
    added = [e.path for e in rec.snapshot() if e.kind == "added"]
    assert sorted(added) == sorted(expect), f"unexpected volumes: {added}"
    assert_error(pool.call_error("LookupVolume", "s", (".hidden-tmp",), "(o)"), E_NO_SUCH_VOLUME)

    # sizes are re-read
    os.truncate(ext, 3 * MiB)
    pool.refresh()
    assert v.prop("Capacity") == 3 * MiB
    rec.wait_prop(v.path, "Capacity", 3 * MiB)

    # a file deleted behind domaind's back
    ext.unlink()
    rec.clear()
    pool.refresh()
    rec.wait_removed(v.path)
    assert pool.volumes() == sorted(expect[1:])
    assert_error(pool.call_error("LookupVolume", "s", ("ext.img",), "(o)"),
                 E_NO_SUCH_VOLUME, "ext.img")
    assert not v.exists()
    assert [e.path for e in rec.snapshot() if e.kind == "added"] == []
    # a second Refresh with nothing new changes nothing
    rec.clear()
    pool.refresh()
    pump(0.1)
    assert [e for e in rec.snapshot() if e.kind in ("added", "removed")] == []


def test_pool_allocation_signalled(env, c, rec, pool, folder):
    """Pool.Allocation changes with its volumes, and PropertiesChanged says so."""
    def signalled_allocation():
        vals = rec.prop_values(pool.path, "Allocation")
        return vals[-1] if vals else None

    rec.clear()
    full = pool.create_volume(vol_xml("full.img", 8, "M", allocation=8, alloc_unit="M"))
    total = pool.prop("Allocation")
    assert total == full.prop("Allocation") >= 8 * MiB
    wait_until(lambda: signalled_allocation() == total, 5.0, "Allocation after CreateVolumeXML")
    assert added_event(rec, full.path).ifaces[VOLUME_IFACE]["Allocation"] >= 8 * MiB

    # a file that appeared behind domaind's back, picked up by Refresh
    (folder / "ext.img").write_bytes(os.urandom(MiB))
    rec.clear()
    pool.refresh()
    total = pool.prop("Allocation")
    assert total == full.prop("Allocation") + allocated(folder / "ext.img")
    try:
        wait_until(lambda: signalled_allocation() == total, 2.0, "Allocation after Refresh")
    except AssertionError:
        raise AssertionError(f"no PropertiesChanged Allocation={total} on the pool after Refresh "
                             f"found a new file; pool signals: "
                             f"{[e for e in rec.snapshot() if e.path == pool.path]}") from None

    rec.clear()
    full.delete()
    total = pool.prop("Allocation")
    assert total == allocated(folder / "ext.img")
    wait_until(lambda: signalled_allocation() == total, 5.0, "Allocation after Delete")


def test_undefine_pools(env, c, rec):
    empty = env.tmp / "pools" / "empty"
    full = env.tmp / "pools" / "full"
    empty.mkdir(parents=True)
    full.mkdir(parents=True)
    pe = define_pool(c, "empty", str(empty))
    pf = define_pool(c, "full", str(full))
    v1 = pf.create_volume(vol_xml("v1.img", 1, "M"))
    (full / "v2.img").write_bytes(b"2" * 8192)
    pf.refresh()
    v2 = pf.lookup_volume("v2.img")
    d1 = digest(full / "v1.img")

    rec.clear()
    pe.undefine()
    rec.wait_removed(pe.path)
    assert not pool_config(env, "empty").exists()
    assert_error(lookup_pool_error(c, "empty"), E_NO_SUCH_POOL, "empty")
    assert empty.is_dir()

    pf.undefine()
    rec.wait_removed(pf.path)
    rec.wait_removed(v1.path)
    rec.wait_removed(v2.path)
    assert not pool_config(env, "full").exists()
    assert entries(full) == ["v1.img", "v2.img"], "Undefine must leave the files"
    assert digest(full / "v1.img") == d1
    assert (full / "v2.img").read_bytes() == b"2" * 8192
    assert list_pools(c) == [pool_path("default")]
    e = pf.call_error("ListVolumes", None, (), "(ao)")
    assert e.name in GONE, e

    env.restart()
    c2 = env.client()
    assert list_pools(c2) == [pool_path("default")]
    assert entries(full) == ["v1.img", "v2.img"]
    # defining it again finds the files
    pf2 = define_pool(c2, "full", str(full))
    assert pf2.volumes() == sorted([v1.path, v2.path])


def test_pool_folder_vanished(env, c, rec, pool, folder):
    v = pool.create_volume(vol_xml("a.img", 1, "M"))
    away = folder.with_name("tp-away")
    os.rename(folder, away)
    rec.clear()
    try:
        pool.refresh()
    except DBusCallError as e:
        assert_error(e, E_INVALID_STATE)
    assert pool.prop("Active") is False
    assert_error(pool.create_volume_error(vol_xml("b.img", 1, "M")), E_INVALID_STATE)
    if v.exists():
        # its volumes stay listed: their operations are refused
        assert_error(v.wipe_error(0), E_INVALID_STATE)
        assert_error(v.call_error("Resize", "tt", (2 * MiB, 0)), E_INVALID_STATE)
        assert_error(v.call_error("Delete", "t", (0,)), E_INVALID_STATE)
    assert not folder.exists(), "domaind re-created the vanished folder"
    assert entries(away) == ["a.img"]

    # still inactive after a restart, and domaind starts fine
    env.restart()
    c2 = env.client()
    p2 = pool.on(c2)
    assert p2.prop("Active") is False
    assert_error(p2.create_volume_error(vol_xml("b.img", 1, "M")), E_INVALID_STATE)

    # back again: Refresh re-checks
    os.rename(away, folder)
    p2.refresh()
    assert p2.prop("Active") is True
    assert p2.volumes() == [v.path]
    assert v.on(c2).prop("Capacity") == MiB
    p2.create_volume(vol_xml("b.img", 1, "M"))
    assert entries(folder) == ["a.img", "b.img"]
    # both changes of Active were signalled
    pump(0.1)
    vals = rec.prop_values(pool.path, "Active")
    assert False in vals and True in vals[vals.index(False):], \
        f"Active went false and back to true, PropertiesChanged said {vals}"


def test_pool_folder_vanished_without_refresh(env, c, pool, folder):
    """No Refresh in between: the operations still see that the folder is
    gone and answer InvalidState, not a low-level failure."""
    v = pool.create_volume(vol_xml("a.img", 1, "M"))
    away = folder.with_name("tp-away")
    os.rename(folder, away)
    assert_error(pool.create_volume_error(vol_xml("b.img", 1, "M")), E_INVALID_STATE, "tp")
    assert_error(v.wipe_error(0), E_INVALID_STATE)
    assert not folder.exists()
    assert entries(away) == ["a.img"]


def test_symlinks_are_not_volumes(env, c, pool, folder):
    """Only regular files directly in the folder are volumes; a wipe never
    writes through a symlink that replaced a volume."""
    outside = env.tmp / "outside"
    outside.mkdir()
    target = outside / "precious.img"
    target.write_bytes(MARKER * (MiB // 16))
    (folder / "link.img").symlink_to(target)
    pool.refresh()
    assert pool.volumes() == []
    v = pool.create_volume(vol_xml("v.img", 1, "M"))
    (folder / "v.img").unlink()
    (folder / "v.img").symlink_to(target)
    try:
        v.wipe(0)
    except DBusCallError:
        pass
    assert target.read_bytes() == MARKER * (MiB // 16), "the wipe wrote through a symlink"
    try:
        v.resize(2 * MiB)
    except DBusCallError:
        pass
    assert target.stat().st_size == MiB, "the resize went through a symlink"


# ===========================================================================
# Volumes


def test_create_raw_sparse(env, c, rec, pool, folder):
    rec.clear()
    v = pool.create_volume(vol_xml("disk1.img", 1, "G"))
    assert v.path == volume_path("tp", "disk1.img") == \
        "/org/domaind1/pool/tp/volume/disk1_2eimg"
    f = folder / "disk1.img"
    st = os.stat(f)
    assert stat.S_ISREG(st.st_mode)
    assert st.st_size == GiB
    assert st.st_blocks * 512 <= MiB, f"not sparse: {st.st_blocks * 512} bytes allocated"
    assert entries(folder) == ["disk1.img"], "temp files left"
    props = v.props()
    assert props["Name"] == "disk1.img"
    assert props["Path"] == str(f)
    assert props["Capacity"] == GiB
    assert props["Format"] == "raw"
    assert props["Allocation"] == allocated(f)
    added = added_event(rec, v.path)
    assert added.ifaces[VOLUME_IFACE]["Name"] == "disk1.img"
    assert added.ifaces[VOLUME_IFACE]["Capacity"] == GiB
    assert c.managed_objects()[v.path][VOLUME_IFACE]["Format"] == "raw"

    assert pool.volumes() == [v.path]
    assert pool.lookup_volume("disk1.img") == v
    assert_error(pool.call_error("LookupVolume", "s", ("nope.img",), "(o)"),
                 E_NO_SUCH_VOLUME, "nope.img")
    x = ET.fromstring(v.xml())
    assert x.tag == "volume"
    assert x.find("name").text == "disk1.img"
    assert xml_size(x.find("capacity")) == GiB
    assert x.find("target/path").text == str(f)
    assert x.find("target/format").get("type") == "raw"
    assert xml_size(x.find("allocation")) == allocated(f)
    assert_error(v.call_error("GetXMLDesc", "t", (F.UNKNOWN,), "(s)"), E_INVALID_ARGUMENT)


def test_create_raw_allocated(pool, folder):
    v = pool.create_volume(vol_xml("full.img", 64, "M", allocation=65536, alloc_unit="KiB"))
    f = folder / "full.img"
    assert os.stat(f).st_size == 64 * MiB
    assert allocated(f) >= 64 * MiB, f"only {allocated(f)} bytes allocated"
    assert v.prop("Allocation") >= 64 * MiB
    assert v.prop("Capacity") == 64 * MiB
    assert is_all_zero(f)


@needs_qemu_img
def test_create_qcow2(pool, folder):
    v = pool.create_volume(vol_xml("q.qcow2", 1, "G", fmt="qcow2"))
    f = folder / "q.qcow2"
    info = qemu_img_info(f)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == GiB
    assert qemu_img_check(f)[0] == 0
    assert os.stat(f).st_size < 4 * MiB, "the qcow2 host file is not small"
    assert entries(folder) == ["q.qcow2"], "temp files left"
    props = v.props()
    assert props["Format"] == "qcow2"
    assert props["Capacity"] == GiB
    assert props["Allocation"] == allocated(f)
    x = ET.fromstring(v.xml())
    assert x.find("target/format").get("type") == "qcow2"
    assert xml_size(x.find("capacity")) == GiB


CAPACITY_UNITS = [
    # (unit attribute or None, number, bytes)
    (None, 12345, 12345),
    ("b", 4097, 4097),
    ("bytes", 8191, 8191),
    ("k", 3, 3 * KiB),
    ("KiB", 1000, 1000 * KiB),
    ("KB", 7, 7000),
    ("M", 3, 3 * MiB),
    ("MiB", 2, 2 * MiB),
    ("MB", 5, 5 * 10 ** 6),
    ("G", 1, GiB),
    ("GB", 1, 10 ** 9),
]


def test_capacity_units(pool, folder):
    for i, (unit, n, size) in enumerate(CAPACITY_UNITS):
        name = f"u{i}.img"
        v = pool.create_volume(vol_xml(name, n, unit))
        assert os.stat(folder / name).st_size == size, (unit, n)
        assert v.prop("Capacity") == size, (unit, n)
    v = pool.create_volume(vol_xml("explicit.raw", 1, "M", fmt="raw"))
    assert v.prop("Format") == "raw" and os.stat(folder / "explicit.raw").st_size == MiB


def test_volume_names(pool, folder):
    for name in ("a_b-c.d+e:f", "x" * 255, "9lives", "v2"):
        v = pool.create_volume(vol_xml(name, 4096))
        assert v.path == volume_path("tp", name)
        assert v.prop("Name") == name
        assert (folder / name).is_file()
        assert pool.lookup_volume(name) == v


def test_resize_raw(c, rec, pool, folder):
    v = pool.create_volume(vol_xml("r.img", 64, "M"))
    f = folder / "r.img"
    rec.clear()
    v.resize(128 * MiB)
    assert os.stat(f).st_size == 128 * MiB
    assert allocated(f) < MiB, "growing a sparse volume allocated it"
    assert v.prop("Capacity") == 128 * MiB
    rec.wait_prop(v.path, "Capacity", 128 * MiB)

    e = assert_error(v.call_error("Resize", "tt", (32 * MiB, 0)), E_INVALID_ARGUMENT)
    assert str(32 * MiB) in e.message or "shrink" in e.message.lower(), e.message
    assert_error(v.call_error("Resize", "tt", (EiB, 0)), E_INVALID_ARGUMENT)
    assert_error(v.call_error("Resize", "tt", (256 * MiB, F.UNKNOWN)), E_INVALID_ARGUMENT)
    assert os.stat(f).st_size == 128 * MiB
    assert v.prop("Capacity") == 128 * MiB
    assert entries(folder) == ["r.img"]


@needs_qemu_img
def test_resize_qcow2(pool, folder):
    v = pool.create_volume(vol_xml("r.qcow2", 64, "M", fmt="qcow2"))
    f = folder / "r.qcow2"
    v.resize(256 * MiB)
    assert qemu_img_info(f)["virtual-size"] == 256 * MiB
    assert qemu_img_check(f)[0] == 0
    assert v.prop("Capacity") == 256 * MiB
    assert v.prop("Format") == "qcow2"
    assert_error(v.call_error("Resize", "tt", (128 * MiB, 0)), E_INVALID_ARGUMENT)
    assert qemu_img_info(f)["virtual-size"] == 256 * MiB
    assert v.prop("Capacity") == 256 * MiB


def test_delete(env, c, rec, pool, folder):
    a = pool.create_volume(vol_xml("a.img", 1, "M"))
    b = pool.create_volume(vol_xml("b.img", 2, "M"))
    rec.clear()
    a.delete()
    rec.wait_removed(a.path)
    assert not (folder / "a.img").exists()
    assert pool.volumes() == [b.path]
    assert_error(pool.call_error("LookupVolume", "s", ("a.img",), "(o)"), E_NO_SUCH_VOLUME)
    e = a.call_error("Delete", "t", (0,))
    assert e.name in GONE, e
    assert_error(b.call_error("Delete", "t", (F.UNKNOWN,)), E_INVALID_ARGUMENT)
    assert (folder / "b.img").exists()
    b.delete()
    rec.wait_removed(b.path)
    assert entries(folder) == []
    assert pool.volumes() == []
    env.restart()
    assert lookup_pool(env.client(), "tp").volumes() == []


def test_concurrent_create_same_name(env, c, rec, pool, folder):
    calls = [pool.call_async("CreateVolumeXML", "st",
                             (vol_xml("race.img", 64, "M", allocation=64, alloc_unit="M"), 0),
                             "(o)", recorder=rec) for _ in range(3)]
    for p in calls:
        p.wait(30)
    ok = [p for p in calls if p.error is None]
    bad = [p for p in calls if p.error is not None]
    assert len(ok) == 1, [p.error for p in calls]
    for p in bad:
        assert_error(p.error, E_ALREADY_EXISTS, "race.img")
    assert ok[0].result == volume_path("tp", "race.img")
    assert entries(folder) == ["race.img"]
    assert pool.volumes() == [ok[0].result]
    assert allocated(folder / "race.img") >= 64 * MiB


# ===========================================================================
# Wipe


def test_wipe_zero_removes_pattern(pool, folder):
    v = pool.create_volume(vol_xml("secret.img", 64, "M"))
    f = folder / "secret.img"
    n = write_pattern(f)
    assert f.read_bytes().count(MARKER) == n  # the test itself is sound
    ino = os.stat(f).st_ino
    v.wipe(0)
    data = f.read_bytes()
    assert len(data) == 64 * MiB
    left = data.count(MARKER)
    assert left == 0, f"{left} copies of the pattern survived the wipe"
    assert data == bytes(64 * MiB), "not all zeros after Wipe(0)"
    del data
    st = os.stat(f)
    assert st.st_ino == ino, "the file was replaced, not overwritten in place"
    assert st.st_blocks * 512 >= 64 * MiB, f"holes left: {st.st_blocks * 512} bytes allocated"
    assert v.prop("Capacity") == 64 * MiB
    assert v.prop("Format") == "raw"
    assert v.job_info()["type"] == "none"
    pool.refresh()
    assert v.prop("Allocation") >= 64 * MiB
    assert entries(folder) == ["secret.img"]


def test_wipe_odd_size(c, rec, pool, folder):
    """A size that is no multiple of the block size: the tail is wiped too,
    the size stays, and the new Allocation is signalled."""
    size = 9 * MiB + 123
    v = pool.create_volume(vol_xml("odd.img", size))
    f = folder / "odd.img"
    n = write_pattern(f, offsets=(0, 4 * MiB - 5, size - 64 * KiB - 3), run=64 * KiB)
    assert f.read_bytes().count(MARKER) == n
    rec.clear()
    v.wipe(0)
    data = f.read_bytes()
    assert len(data) == size
    assert data == bytes(size)
    assert allocated(f) >= size
    assert v.prop("Allocation") == allocated(f), "Allocation not updated after the wipe"
    rec.wait_prop(v.path, "Allocation", allocated(f))


def test_wipe_random_removes_pattern(pool, folder):
    v = pool.create_volume(vol_xml("secret.img", 64, "M"))
    f = folder / "secret.img"
    n = write_pattern(f)
    assert f.read_bytes().count(MARKER) == n
    ino = os.stat(f).st_ino
    v.wipe(1)
    data = f.read_bytes()
    assert len(data) == 64 * MiB
    assert data.count(MARKER) == 0, "the pattern survived the wipe"
    assert data.count(0) < len(data) // 100, \
        f"{data.count(0)} zero bytes: not random data (or holes left)"
    assert bytes(4096) not in data, "a 4 KiB run of zeros: part of the file was not written"
    assert data[:MiB] != data[MiB:2 * MiB] != data[40 * MiB:41 * MiB], "a repeated block"
    del data
    st = os.stat(f)
    assert st.st_ino == ino, "the file was replaced, not overwritten in place"
    assert st.st_blocks * 512 >= 64 * MiB
    assert v.prop("Capacity") == 64 * MiB
    assert entries(folder) == ["secret.img"]


@needs_qemu_img
@pytest.mark.parametrize("algorithm", [0, 1])
def test_wipe_qcow2(pool, folder, algorithm):
    v = pool.create_volume(vol_xml("q.qcow2", 64, "M", fmt="qcow2"))
    f = folder / "q.qcow2"
    rc, out = qemu_io(f, "write -P 0xab 0 4M", "write -P 0xab 32M 4M")
    assert rc == 0, out
    run = b"\xab" * (64 * KiB)
    assert run in f.read_bytes()  # the test itself is sound
    v.wipe(algorithm)
    assert run not in f.read_bytes(), "the guest data survived the wipe"
    rc, out = qemu_img_check(f)
    assert rc == 0, f"not a valid qcow2 after the wipe: {out}"
    info = qemu_img_info(f)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == 64 * MiB
    rc, out = qemu_io(f, "read -P 0 0 4M", "read -P 0 32M 4M")
    assert rc == 0 and "verification failed" not in out, out
    props = v.props()
    assert (props["Format"], props["Capacity"]) == ("qcow2", 64 * MiB)
    assert entries(folder) == ["q.qcow2"], "temp files left"


def test_wipe_algorithms(pool, folder):
    v = pool.create_volume(vol_xml("w.img", 1, "M"))
    f = folder / "w.img"
    write_pattern(f, offsets=(4096,), run=64 * KiB)
    before = digest(f)
    for alg in range(2, 9):
        e = assert_error(v.wipe_error(alg), E_NOT_SUPPORTED)
        assert e.message.strip(), alg
    assert_error(v.wipe_error(99), E_INVALID_ARGUMENT, "99")
    assert_error(v.wipe_error(0xFFFFFFFF), E_INVALID_ARGUMENT)
    assert_error(v.wipe_error(0, F.UNKNOWN), E_INVALID_ARGUMENT)
    assert digest(f) == before, "a refused wipe changed the file"
    assert v.job_info()["type"] == "none"


def test_volume_in_use(env, c, pool, folder):
    v = pool.create_volume(vol_xml("used.img", 4, "M"))
    other = pool.create_volume(vol_xml("other.img", 4, "M"))
    f = folder / "used.img"
    write_pattern(f, offsets=(0, MiB + 5), run=256 * KiB)
    before = digest(f)
    d = c.define(domain_xml("user1", extra=disks_xml(f)))
    # defined but inactive: not in use
    other.resize(8 * MiB)
    d.start()
    assert_error(v.wipe_error(0), E_INVALID_STATE, "user1", "running")
    assert digest(f) == before, "a refused wipe changed the file"
    assert_error(v.call_error("Delete", "t", (0,)), E_BUSY)
    assert_error(v.call_error("Resize", "tt", (8 * MiB, 0)), E_BUSY)
    assert_error(pool.call_error("Undefine"), E_BUSY)
    assert pool.exists() and pool_config(env, "tp").exists()
    assert os.stat(f).st_size == 4 * MiB and digest(f) == before
    assert v.prop("Capacity") == 4 * MiB
    # the other volume of the pool is free
    other.wipe(0)
    d.suspend()
    assert_error(v.wipe_error(1), E_INVALID_STATE, "user1", "paused")
    assert digest(f) == before

    d.destroy()
    v.wipe(0)
    assert is_all_zero(f)
    v.resize(8 * MiB)
    assert os.stat(f).st_size == 8 * MiB

    # a transient domain of the same hypervisor counts too
    t = c.create(domain_xml("user2", extra=disks_xml(f)))
    assert_error(v.call_error("Delete", "t", (0,)), E_BUSY)
    assert_error(v.wipe_error(0), E_INVALID_STATE, "user2")
    t.destroy()
    v.delete()
    assert not f.exists()


def test_wipe_progress_and_loop_not_blocked(env, c, pool, folder):
    _, avail = statvfs_figures(folder)
    if avail >= 10 * GiB:
        size = 2 * GiB
    elif avail >= 5 * GiB:
        size = GiB
    else:
        pytest.skip(f"not enough free space in {folder} for a long wipe ({avail} bytes)")
    f = folder / "big.img"
    try:
        d = c.define(domain_xml("bystander"))
        d.start()
        v = pool.create_volume(vol_xml("big.img", size))
        probe = env.client()  # another client, as a GUI would be
        vp, pp = v.on(probe), pool.on(probe)
        offsets = (0, size // 2 + 12345, size - PATTERN_RUN)
        write_pattern(f, offsets=offsets)

        wipe = v.call_async("Wipe", "ut", (0, 0), timeout_ms=300000)

        def job_seen():
            ji = vp.job_info()
            if ji["type"] != "none":
                return ji
            return {"type": "ended"} if wipe.done else None

        info = wait_until(job_seen, 10.0, "the wipe job in GetJobInfo")
        assert info["type"] == "bounded", \
            f"GetJobInfo during the wipe: {info} (wipe error: {wipe.error})"
        assert info["operation"] == "wipe", info
        assert {"type", "operation", "time-elapsed", "data-processed", "data-total",
                "data-remaining"} <= set(info), info
        assert info["data-total"] == size, info

        # the volume is busy while it is wiped
        assert_error(vp.wipe_error(0), E_BUSY)
        assert_error(vp.call_error("Delete", "t", (0,)), E_BUSY)
        assert_error(vp.call_error("Resize", "tt", (size + GiB, 0)), E_BUSY)
        assert_error(pp.call_error("Undefine"), E_BUSY)
        pump()
        assert not wipe.done, "the wipe ended before the Busy checks: they prove nothing"
        assert f.exists() and pp.exists()

        processed, elapsed, slowest = [], [], [0.0, None]

        def timed(what, fn):
            # not a speed target: an answer taking a second means the loop is blocked
            t0 = time.monotonic()
            r = fn()
            dt = time.monotonic() - t0
            if dt > slowest[0]:
                slowest[:] = [dt, what]
            assert dt < 1.0, f"{what} took {dt:.2f}s during the wipe: the loop is blocked"
            return r

        while not wipe.done:
            ji = timed("GetJobInfo", vp.job_info)
            doms = timed("Manager.ListDomains", probe.list_domains)
            cap = timed("Volume.Capacity", lambda: vp.prop("Capacity"))
            alloc = timed("Pool.Allocation", lambda: pp.prop("Allocation"))
            state = timed("Domain.State", lambda: d.on(probe).state)
            assert doms == [d.path] and cap == size and isinstance(alloc, int)
            assert state == "running"
            if ji["type"] == "none":
                break
            assert ji["operation"] == "wipe", ji
            assert ji["data-total"] == size, ji
            assert ji["data-processed"] + ji["data-remaining"] == size, ji
            processed.append(ji["data-processed"])
            elapsed.append(ji["time-elapsed"])
            pump()
            time.sleep(0.01)
        wipe.ok(timeout=300)
        assert processed == sorted(processed), "data-processed went backwards"
        assert elapsed == sorted(elapsed), "time-elapsed went backwards"
        assert len(set(processed)) >= 2 and processed[-1] > processed[0], \
            f"data-processed did not grow: {processed[:5]}...{processed[-5:]}"

        assert v.job_info()["type"] == "none"
        st = os.stat(f)
        assert st.st_size == size
        assert st.st_blocks * 512 >= size, "holes left after the wipe"
        with open(f, "rb") as fh:
            for off in offsets:
                fh.seek(off)
                assert fh.read(PATTERN_RUN) == bytes(PATTERN_RUN), f"data left at {off}"
        assert d.state == "running"
        v.delete()
        assert not f.exists()
    finally:
        if f.exists():
            f.unlink()


def test_sigterm_during_wipe(env, c, pool, folder):
    """domaind stops cleanly (exit 0, as for every test) while a wipe runs,
    and the volume is there after the restart, without a job."""
    _, avail = statvfs_figures(folder)
    if avail < 5 * GiB:
        pytest.skip(f"not enough free space in {folder} for a long wipe ({avail} bytes)")
    f = folder / "big.img"
    try:
        v = pool.create_volume(vol_xml("big.img", 1, "G"))
        wipe = v.call_async("Wipe", "ut", (1, 0), timeout_ms=300000)
        wait_until(lambda: wipe.done or v.job_info()["type"] == "bounded", 10.0, "the wipe job")
        assert not wipe.done, f"the wipe ended too early: {wipe.error}"
        env.stop()
        wipe.wait(5.0)
        assert wipe.error is not None, "a cancelled wipe reported success"
        env.start()
        v2 = v.on(env.client())
        assert v2.prop("Capacity") == GiB
        assert v2.job_info()["type"] == "none"
        assert [n for n in entries(folder) if n.startswith(".")] == []
        v2.delete()
    finally:
        if f.exists():
            f.unlink()


# ===========================================================================
# Domain.Undefine with REMOVE_STORAGE / WIPE_STORAGE


def storage_domain(env, c, pool, folder, name):
    a = pool.create_volume(vol_xml("a.img", 8, "M"))
    b = pool.create_volume(vol_xml("b.img", 16, "M", allocation=16, alloc_unit="M"))
    keep = pool.create_volume(vol_xml("keep.img", 1, "M"))
    outside = env.tmp / "outside" / f"{name}-outside.img"
    outside.parent.mkdir(exist_ok=True)
    outside.write_bytes(b"o" * MiB)
    for p in (folder / "a.img", folder / "b.img"):
        write_pattern(p, offsets=(0,), run=64 * KiB)
    u = new_uuid()
    d = c.define(domain_xml(name, uuid=u, extra=disks_xml(folder / "a.img", folder / "b.img",
                                                           outside)))
    return d, u, a, b, keep, outside


@pytest.mark.parametrize("flags", [F.UNDEFINE_REMOVE_STORAGE,
                                   F.UNDEFINE_REMOVE_STORAGE | F.UNDEFINE_WIPE_STORAGE],
                         ids=["remove", "wipe+remove"])
def test_undefine_remove_storage(env, c, rec, pool, folder, flags):
    d, u, a, b, keep, outside = storage_domain(env, c, pool, folder, "withdisks")
    rec.clear()
    d.undefine(flags)
    rec.wait_removed(d.path)
    rec.wait_removed(a.path)
    rec.wait_removed(b.path)
    assert not (folder / "a.img").exists()
    assert not (folder / "b.img").exists()
    assert outside.read_bytes() == b"o" * MiB, "a file outside every pool was touched"
    assert entries(folder) == ["keep.img"], "the wrong files went (or temp files stayed)"
    assert pool.volumes() == [keep.path]
    assert_error(pool.call_error("LookupVolume", "s", ("a.img",), "(o)"), E_NO_SUCH_VOLUME)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByName", "s", ("withdisks",),
                              "(o)"), E_NO_SUCH_DOMAIN)
    assert not env.config_file(u).exists()
    assert c.list_domains() == []
    # the storage goes first, the definition last
    evs = rec.snapshot()
    i_dom = next(i for i, e in enumerate(evs) if e.kind == "removed" and e.path == d.path)
    i_vols = [i for i, e in enumerate(evs) if e.kind == "removed" and e.path in (a.path, b.path)]
    assert max(i_vols) < i_dom, evs
    assert str(outside) in env.log(), "no warning naming the disk outside every pool"


def test_undefine_wipe_storage_alone(env, c, pool, folder):
    d, u, a, b, keep, outside = storage_domain(env, c, pool, folder, "wipeonly")
    before = {p: digest(p) for p in (folder / "a.img", folder / "b.img", outside)}
    vols = pool.volumes()
    assert_error(d.call_error("Undefine", "t", (F.UNDEFINE_WIPE_STORAGE,)), E_INVALID_ARGUMENT)
    assert d.exists() and env.config_file(u).exists()
    assert {p: digest(p) for p in before} == before, "files changed"
    assert pool.volumes() == vols


def test_undefine_remove_storage_running(env, c, pool, folder):
    d, u, a, b, keep, outside = storage_domain(env, c, pool, folder, "busydisks")
    d.start()
    before = {p: digest(p) for p in (folder / "a.img", folder / "b.img", outside)}
    vols = pool.volumes()
    for flags in (F.UNDEFINE_REMOVE_STORAGE,
                  F.UNDEFINE_REMOVE_STORAGE | F.UNDEFINE_WIPE_STORAGE):
        assert_error(d.call_error("Undefine", "t", (flags,)), E_INVALID_STATE, "running")
    assert {p: digest(p) for p in before} == before, "files changed"
    assert pool.volumes() == vols
    assert env.config_file(u).exists()
    assert state_of(d) == ("running", "booted")
    assert d.prop("Persistent") is True
    d.destroy()


def test_undefine_remove_storage_volume_used_elsewhere(env, c, pool, folder):
    """One of the disks is a volume a running domain uses: nothing is deleted
    and the domain stays defined."""
    d, u, a, b, keep, outside = storage_domain(env, c, pool, folder, "sharer")
    other = c.define(domain_xml("user", extra=disks_xml(folder / "b.img")))
    other.start()
    before = {p: digest(p) for p in (folder / "a.img", folder / "b.img", outside)}
    for flags in (F.UNDEFINE_REMOVE_STORAGE,
                  F.UNDEFINE_REMOVE_STORAGE | F.UNDEFINE_WIPE_STORAGE):
        assert_error(d.call_error("Undefine", "t", (flags,)), E_BUSY, "b.img")
        assert {p: digest(p) for p in before} == before, "files changed"
        assert sorted(entries(folder)) == ["a.img", "b.img", "keep.img"]
        assert d.exists() and env.config_file(u).exists()
    other.destroy()
    d.undefine(F.UNDEFINE_REMOVE_STORAGE)
    assert entries(folder) == ["keep.img"]


# ===========================================================================
# Bad input: a clear error and nothing created


BAD_VOLUME_NAMES = [
    # (name, accepted error names, substring the message must contain)
    ("a/b", (E_INVALID_ARGUMENT,), "a/b"),
    ("..", (E_INVALID_ARGUMENT,), ".."),
    ("../x", (E_INVALID_ARGUMENT,), "../x"),
    ("x/../y", (E_INVALID_ARGUMENT,), "x/../y"),
    (".hidden", (E_INVALID_ARGUMENT,), ".hidden"),
    ("-dash", (E_INVALID_ARGUMENT,), "-dash"),
    ("sp ace", (E_INVALID_ARGUMENT,), "sp ace"),
    ("x" * 256, (E_INVALID_ARGUMENT,), None),
    ("", (E_INVALID_XML, E_INVALID_ARGUMENT), "name"),
]


@pytest.mark.parametrize("name,errors,word", BAD_VOLUME_NAMES,
                         ids=[n[:12] or "empty" for n, _, _ in BAD_VOLUME_NAMES])
def test_bad_volume_name(env, c, pool, folder, name, errors, word):
    (folder / "existing.img").write_bytes(b"e" * 4096)
    pool.refresh()
    u = StorageUnchanged(env, c, folder, folder.parent)
    for fmt in (None, "qcow2"):
        e = pool.create_volume_error(vol_xml(name, 1, "M", fmt=fmt))
        assert e.name in errors, e
        if word:
            assert word.lower() in e.message.lower(), \
                f"message {e.message!r} does not name {word!r}"
    e = pool.call_error("LookupVolume", "s", (name,), "(o)")
    assert e.name in (E_NO_SUCH_VOLUME, E_INVALID_ARGUMENT), e
    u.check()


BAD_VOLUME_XML = [
    # (xml, error name, substrings of the message)
    (vol_xml("zero.img", 0), E_INVALID_ARGUMENT, ("capacity",)),
    (vol_xml("zero.img", 0, "G"), E_INVALID_ARGUMENT, ("capacity",)),
    (vol_xml("huge.img", 1, "EiB"), E_INVALID_ARGUMENT, ("available",)),
    (vol_xml("huge.img", 1, "EiB", fmt="qcow2"), E_INVALID_ARGUMENT, ("available",)),
    (vol_xml("unit.img", 1, "parsecs"), E_INVALID_XML, ("capacity", "parsecs")),
    (vol_xml("nan.img", "lots"), E_INVALID_XML, ("capacity", "lots")),
    (vol_xml("neg.img", -1), E_INVALID_XML, ("capacity",)),
    (vol_xml("wrap.img", 16, "EiB"), E_INVALID_XML, ("capacity",)),
    (vol_xml("wrap.img", 2 ** 54 + 1, "KiB"), E_INVALID_XML, ("capacity",)),
    (vol_xml("wrap.img", 2 ** 64, None), E_INVALID_XML, ("capacity",)),
    (vol_xml("nocap.img", None), E_INVALID_XML, ("capacity",)),
    (vol_xml("alloc.img", 1, "M", allocation=1, alloc_unit="furlongs"), E_INVALID_XML,
     ("allocation", "furlongs")),
    (vol_xml("fmt.img", 1, "M", fmt="vmdk"), E_NOT_SUPPORTED, ("vmdk",)),
    (vol_xml(None, 1, "M"), E_INVALID_XML, ("name",)),
    ("<volume><name>broken.img</name><capacity>1", E_INVALID_XML, ()),
    ("not xml at all", E_INVALID_XML, ()),
    ("<pool><name>wrong-root.img</name><capacity>1</capacity></pool>", E_INVALID_XML,
     ("volume",)),
]


@pytest.mark.parametrize("xml,error,words", BAD_VOLUME_XML,
                         ids=[f"{i}" for i in range(len(BAD_VOLUME_XML))])
def test_bad_volume_xml(env, c, pool, folder, xml, error, words):
    u = StorageUnchanged(env, c, folder)
    e = assert_error(pool.create_volume_error(xml), error, *words)
    assert e.message.strip()
    if "EiB" in xml:
        assert str(EiB) in e.message or "EiB" in e.message or "1 E" in e.message, \
            f"message {e.message!r} does not name the capacity asked for"
    u.check()


def test_volume_already_exists(env, c, pool, folder):
    v = pool.create_volume(vol_xml("dup.img", 1, "M"))
    write_pattern(folder / "dup.img", offsets=(0,), run=64 * KiB)
    # a file domaind has not seen yet (no Refresh) must not be overwritten either
    (folder / "foreign.img").write_bytes(b"f" * 8192)
    before = {n: digest(folder / n) for n in ("dup.img", "foreign.img")}
    u = StorageUnchanged(env, c, folder)
    for name in ("dup.img", "foreign.img"):
        for fmt in (None, "qcow2"):
            assert_error(pool.create_volume_error(vol_xml(name, 2, "M", fmt=fmt)),
                         E_ALREADY_EXISTS, name)
    assert_error(pool.create_volume_error(vol_xml("flags.img", 1, "M"), F.UNKNOWN),
                 E_INVALID_ARGUMENT)
    u.check()
    assert {n: digest(folder / n) for n in before} == before, "an existing file was overwritten"
    assert v.prop("Capacity") == MiB


def test_duplicate_pools(env, c, folder):
    u = new_uuid()
    define_pool(c, "first", str(folder), uuid=u)
    other = env.tmp / "pools" / "other"
    other.mkdir()
    images = env.state_dir / "images"
    un = StorageUnchanged(env, c, folder, other, images)
    cases = [
        (pool_xml("first", str(other)), "first"),                      # name
        (pool_xml("second", str(other), uuid=u), u),                   # uuid
        (pool_xml("second", str(folder)), str(folder)),                # path
        (pool_xml("second", str(images)), str(images)),                # the default pool's path
        (pool_xml("default", str(other)), "default"),
    ]
    for xml, word in cases:
        assert_error(define_pool_error(c, xml), E_ALREADY_EXISTS, word)
    un.check()
    assert list_pools(c) == sorted([pool_path("default"), pool_path("first")])


def _bad_pool_cases(tmp):
    regular = tmp / "a-file"
    missing = tmp / "missing-dir"
    return [
        # (xml, error, substrings)
        (pool_xml("p", str(regular)), E_INVALID_ARGUMENT, (str(regular),)),
        (pool_xml("p", str(missing)), E_INVALID_ARGUMENT, (str(missing),)),
        (pool_xml("p", "relative/dir"), E_INVALID_ARGUMENT, ("relative/dir",)),
        (pool_xml("p", str(tmp / "pools") + "/"), E_INVALID_ARGUMENT, (str(tmp / "pools"),)),
        (pool_xml("p", str(tmp / "pools" / ".." / "pools")), E_INVALID_ARGUMENT, ("..",)),
        (pool_xml("p", str(tmp) + "/./pools"), E_INVALID_ARGUMENT, ("/./",)),
        (pool_xml("p", str(tmp / "pools"), ptype="logical"), E_NOT_SUPPORTED, ("logical",)),
        (pool_xml("p", str(tmp / "pools"), ptype="netfs"), E_NOT_SUPPORTED, ("netfs",)),
        ("<pool type='dir'><name>p</name><target><path>/x", E_INVALID_XML, ()),
        ("definitely not xml", E_INVALID_XML, ()),
        (pool_xml(None, str(tmp / "pools")), E_INVALID_XML, ("name",)),
        (pool_xml("", str(tmp / "pools")), E_INVALID_XML, ("name",)),
        (pool_xml("p", None), E_INVALID_XML, ("path",)),
        ("<pool type='dir'><name>p</name><target/></pool>", E_INVALID_XML, ("path",)),
        (pool_xml("p", ""), E_INVALID_XML, ("path",)),
        ("<volume><name>p</name></volume>", E_INVALID_XML, ("pool",)),
        (pool_xml("a/b", str(tmp / "pools")), E_INVALID_ARGUMENT, ("a/b",)),
        (pool_xml(".dot", str(tmp / "pools")), E_INVALID_ARGUMENT, (".dot",)),
        (pool_xml("-dash", str(tmp / "pools")), E_INVALID_ARGUMENT, ("-dash",)),
        (pool_xml("sp ace", str(tmp / "pools")), E_INVALID_ARGUMENT, ("sp ace",)),
        (pool_xml("x" * 65, str(tmp / "pools")), E_INVALID_ARGUMENT, ()),
    ]


def test_bad_pool_xml(env, c):
    (env.tmp / "pools").mkdir()
    (env.tmp / "a-file").write_bytes(b"not a folder")
    un = StorageUnchanged(env, c, env.tmp / "pools", env.tmp)
    failures = []
    for xml, error, words in _bad_pool_cases(env.tmp):
        try:
            assert_error(define_pool_error(c, xml), error, *words)
        except AssertionError as e:
            failures.append(f"{xml}\n    {e}")
    e = define_pool_error(c, pool_xml("flags", str(env.tmp / "pools")), F.UNKNOWN)
    if e.name != E_INVALID_ARGUMENT:
        failures.append(f"unknown flags: {e.name}: {e.message}")
    e = define_pool_error(c, pool_xml("p", str(env.tmp / "pools"), uuid="not-a-uuid"))
    if e.name not in (E_INVALID_XML, E_INVALID_ARGUMENT) or "not-a-uuid" not in e.message:
        failures.append(f"bad uuid: {e.name}: {e.message}")
    assert not failures, "\n".join(failures)
    un.check()
    assert list_pools(c) == [pool_path("default")]
    assert not (env.tmp / "missing-dir").exists(), "DefinePoolXML created the missing folder"
    # a 64-character name is fine
    p = define_pool(c, "n" * 64, str(env.tmp / "pools"))
    assert p.prop("Name") == "n" * 64

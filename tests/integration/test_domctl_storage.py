# SPDX-License-Identifier: LGPL-2.1-or-later
"""domctl's storage pool and volume commands (virsh's pool-* and vol-*)
against a real domaind: output, exit codes, and the files in the pools'
folders."""

import os
import pty
import re
import select
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (POOL_IFACE, ROOT_PATH, MANAGER_IFACE, VOLUME_IFACE, domain_xml,
                     domctl_binary)
from test_domctl import ok, table, write

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def fail(env_, *args, rc=1):
    r = env_.domctl(*args)
    assert r.returncode == rc, (f"domctl {' '.join(map(str, args))}: exit {r.returncode}, "
                                f"expected {rc}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    assert r.stderr.startswith("error: "), r.stderr
    return r.stderr


def default_dir(env_):
    return env_.state_dir / "images"


def info(out):
    """'Key:   value' lines → dict."""
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        d[k] = v.strip()
    return d


def pool_path(c, name):
    return c.call(ROOT_PATH, MANAGER_IFACE, "LookupPool", "s", (name,), "(o)")


def allocated(p):
    return os.stat(p).st_blocks * 512


def qemu_img_virtual_size(p):
    if not shutil.which("qemu-img"):
        return None
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(p)],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r'"virtual-size":\s*(\d+)', out).group(1))


PRETTY = re.compile(r"^\d+\.\d\d (B|KiB|MiB|GiB|TiB|PiB|EiB)$")


# ---------------------------------------------------------------------------
# pools


def test_pool_list(env, c):
    header, rows = table(ok(env, "pool-list"))
    assert header == ["Name", "State", "Autostart"]
    assert rows == [["default", "active", "yes"]]
    assert table(ok(env, "pool-list", "--all"))[1] == rows
    assert table(ok(env, "pool-list", "--inactive"))[1] == []
    assert table(ok(env, "pool-list", "--no-autostart"))[1] == []
    assert ok(env, "pool-list", "--name") == "default\n"

    header, rows = table(ok(env, "pool-list", "--details"))
    assert header == ["Name", "State", "Autostart", "Persistent", "Capacity", "Allocation",
                      "Available"]
    assert rows[0][:4] == ["default", "running", "yes", "yes"]
    for cell in rows[0][4:]:
        assert PRETTY.match(cell), rows

    assert "mutually exclusive" in fail(env, "pool-list", "--all", "--inactive", rc=2)


def test_pool_info_and_dumpxml(env, c):
    path = pool_path(c, "default")
    props = c.get_all(path, POOL_IFACE)
    xml = ok(env, "pool-dumpxml", "default")
    # the same document as GetXMLDesc, but for <available>, which moves with
    # whatever else writes to the file system
    want = c.call(path, POOL_IFACE, "GetXMLDesc", "t", (0,), "(s)").rstrip("\n") + "\n"
    drop = re.compile(r"<available[^>]*>\d+</available>")
    assert drop.sub("", xml) == drop.sub("", want)
    root = ET.fromstring(xml)
    assert root.findtext("target/path") == str(default_dir(env))

    i = info(ok(env, "pool-info", "default"))
    assert list(i) == ["Name", "UUID", "State", "Persistent", "Autostart", "Capacity",
                       "Allocation", "Available"]
    assert i["Name"] == "default"
    assert i["UUID"] == root.findtext("uuid")
    assert (i["State"], i["Persistent"], i["Autostart"]) == ("running", "yes", "yes")
    assert PRETTY.match(i["Capacity"]), i
    # --bytes: the properties, exactly (Capacity is the file system's size)
    i = info(ok(env, "pool-info", "--bytes", "default"))
    assert i["Capacity"] == f"{props['Capacity']} bytes"
    assert i["Allocation"] == f"{props['Allocation']} bytes"
    # Available moves with whatever else writes to the file system
    after = c.get_all(path, POOL_IFACE)["Available"]
    avail = int(i["Available"].split()[0])
    assert min(props["Available"], after) - GiB <= avail <= max(props["Available"], after) + GiB
    assert avail <= props["Capacity"]
    # by object path too
    assert info(ok(env, "pool-info", path))["Name"] == "default"

    err = fail(env, "pool-info", "nosuch")
    assert "nosuch" in err
    fail(env, "pool-dumpxml", "nosuch")


def test_pool_define_refresh_undefine(env, c, tmp_path):
    d = tmp_path / "p2dir"
    d.mkdir()
    f = write(tmp_path, "pool.xml",
              f"<pool type='dir'><name>p2</name><target><path>{d}</path></target></pool>")
    assert ok(env, "pool-define", f) == f"Pool p2 defined from {f}\n"
    assert ok(env, "pool-list", "--name") == "default\np2\n"
    path = pool_path(c, "p2")
    assert c.get(path, POOL_IFACE, "Path") == str(d)

    # a file put there behind domaind's back shows after a refresh
    (d / "outside.img").write_bytes(b"x" * 5000)
    assert table(ok(env, "vol-list", "p2"))[1] == []
    assert ok(env, "pool-refresh", "p2") == "Pool p2 refreshed\n"
    assert table(ok(env, "vol-list", "p2"))[1] == [["outside.img", str(d / "outside.img")]]

    # again: AlreadyExists
    err = fail(env, "pool-define", f)
    assert "p2" in err

    assert ok(env, "pool-undefine", "p2") == "Pool p2 has been undefined\n"
    assert ok(env, "pool-list", "--name") == "default\n"
    assert (d / "outside.img").exists(), "pool-undefine must leave the files"
    fail(env, "pool-info", "p2")

    bad = write(tmp_path, "bad.xml", "<pool type='dir'><name>p3</name></pool>")
    assert "target" in fail(env, "pool-define", bad)
    assert "failed to open" in fail(env, "pool-define", tmp_path / "missing.xml")


def test_inactive_pool(env, c, tmp_path):
    """A pool whose folder vanished: listed with --all/--inactive only, no
    sizes; refresh fails until the folder is back."""
    d = tmp_path / "gone"
    d.mkdir()
    f = write(tmp_path, "pool.xml",
              f"<pool type='dir'><name>gone</name><target><path>{d}</path></target></pool>")
    ok(env, "pool-define", f)
    d.rename(tmp_path / "away")
    assert "inactive" in fail(env, "pool-refresh", "gone")

    assert table(ok(env, "pool-list"))[1] == [["default", "active", "yes"]]
    assert table(ok(env, "pool-list", "--inactive"))[1] == [["gone", "inactive", "yes"]]
    rows = table(ok(env, "pool-list", "--all", "--details"))[1]
    assert rows[1] == ["gone", "inactive", "yes", "yes", "-", "-", "-"]
    i = info(ok(env, "pool-info", "gone"))
    assert list(i) == ["Name", "UUID", "State", "Persistent", "Autostart"]
    assert i["State"] == "inactive"

    (tmp_path / "away").rename(d)
    assert ok(env, "pool-refresh", "gone") == "Pool gone refreshed\n"
    assert table(ok(env, "pool-list"))[1] == [["default", "active", "yes"],
                                              ["gone", "active", "yes"]]


# ---------------------------------------------------------------------------
# volume sizes and XML


SIZES = [
    ("1", 1), ("1b", 1), ("7bytes", 7), ("1k", KiB), ("1K", KiB), ("1KiB", KiB),
    ("1KB", 1000), ("1kb", 1000), ("2M", 2 * MiB), ("2MiB", 2 * MiB), ("2MB", 2_000_000),
    ("3G", 3 * GiB), ("3gib", 3 * GiB), ("3GB", 3_000_000_000), ("1T", 1024 * GiB),
    ("1TB", 10 ** 12), ("1P", 1 << 50), ("1E", 1 << 60), ("1EB", 10 ** 18),
    ("18446744073709551615", 2 ** 64 - 1),
]


@pytest.mark.parametrize("arg,want", SIZES)
def test_vol_create_as_sizes(env, arg, want):
    out = ok(env, "vol-create-as", "default", "v", arg, "--print-xml")
    cap = ET.fromstring(out).find("capacity")
    assert cap.get("unit") == "bytes"
    assert int(cap.text) == want


@pytest.mark.parametrize("arg,why", [
    ("1x", "malformed"), ("1.5G", "malformed"), ("-1", "malformed"), ("", "malformed"),
    ("G", "malformed"), ("1KiBs", "malformed"), ("1iB", "malformed"), ("1 G", "malformed"),
    ("16E", "too large"), ("18446744073709551616", "too large"),
])
def test_vol_create_as_bad_sizes(env, arg, why):
    err = fail(env, "vol-create-as", "default", "v", arg, rc=2)
    assert why in err and "--capacity" in err, err
    err = fail(env, "vol-create-as", "default", "v", "1M", "--allocation", arg, rc=2)
    assert why in err and "--allocation" in err, err


def test_vol_create_as_print_xml(env):
    name = "a&b<c>'d\""
    out = ok(env, "vol-create-as", "default", name, "1G", "--format", "qcow2", "--allocation",
             "1M", "--print-xml")
    root = ET.fromstring(out)
    assert root.tag == "volume"
    assert root.findtext("name") == name
    assert root.find("capacity").text == str(GiB)
    assert root.find("allocation").get("unit") == "bytes"
    assert root.find("allocation").text == str(MiB)
    assert root.find("target/format").get("type") == "qcow2"
    # nothing was created
    assert not list(default_dir(env).iterdir())
    # neither allocation nor format unless asked
    root = ET.fromstring(ok(env, "vol-create-as", "default", "x", "1", "--print-xml"))
    assert root.find("allocation") is None and root.find("target") is None


# ---------------------------------------------------------------------------
# volumes


def test_vol_create_as_raw_and_qcow2(env, c):
    assert ok(env, "vol-create-as", "default", "a.img", "10M") == "Vol a.img created\n"
    f = default_dir(env) / "a.img"
    assert f.stat().st_size == 10 * MiB
    assert allocated(f) < MiB, "a raw volume without --allocation is sparse"

    assert ok(env, "vol-create-as", "default", "full.img", "2M", "--allocation", "2M") == \
        "Vol full.img created\n"
    assert allocated(default_dir(env) / "full.img") >= 2 * MiB

    assert ok(env, "vol-create-as", "default", "q.qcow2", "1G", "--format", "qcow2") == \
        "Vol q.qcow2 created\n"
    q = default_dir(env) / "q.qcow2"
    assert q.read_bytes()[:4] == b"QFI\xfb"
    assert q.stat().st_size < 10 * MiB
    vs = qemu_img_virtual_size(q)
    assert vs is None or vs == GiB

    header, rows = table(ok(env, "vol-list", "default"))
    assert header == ["Name", "Path"]
    assert rows == [[n, str(default_dir(env) / n)] for n in ("a.img", "full.img", "q.qcow2")]
    header, rows = table(ok(env, "vol-list", "--details", "default"))
    assert header == ["Name", "Path", "Type", "Capacity", "Allocation"]
    got = {r[0]: r for r in rows}
    assert got["a.img"][2:4] == ["file", "10.00 MiB"]
    assert got["q.qcow2"][3] == "1.00 GiB"
    assert got["full.img"][3:] == ["2.00 MiB", "2.00 MiB"]

    err = fail(env, "vol-create-as", "default", "a.img", "1M")
    assert "a.img" in err
    fail(env, "vol-create-as", "default", "z.img", "1M", "--format", "vmdk")
    assert not (default_dir(env) / "z.img").exists()
    fail(env, "vol-create-as", "nosuch", "z.img", "1M")


def test_vol_create_from_xml(env, tmp_path):
    f = write(tmp_path, "vol.xml",
              "<volume><name>fromxml.img</name><capacity unit='KiB'>64</capacity></volume>")
    assert ok(env, "vol-create", "default", f) == f"Vol fromxml.img created from {f}\n"
    assert (default_dir(env) / "fromxml.img").stat().st_size == 64 * KiB
    bad = write(tmp_path, "bad.xml", "<volume><name>x</name></volume>")
    assert "capacity" in fail(env, "vol-create", "default", bad)


def test_vol_lookup(env, c, tmp_path):
    ok(env, "vol-create-as", "default", "look.img", "1M")
    f = default_dir(env) / "look.img"
    want = {"Name": "look.img", "Type": "file", "Capacity": "1.00 MiB",
            "Allocation": "0.00 B"}
    # by name in a pool, by path, through a symbolic link, relative to the
    # current folder, by object path
    assert info(ok(env, "vol-info", "look.img", "--pool", "default")) == want
    assert info(ok(env, "vol-info", "--pool", "default", "--vol", "look.img")) == want
    assert info(ok(env, "vol-info", f)) == want
    link = tmp_path / "link.img"
    link.symlink_to(f)
    assert info(ok(env, "vol-info", link)) == want
    assert info(ok(env, "vol-info", os.path.relpath(f, env.tmp))) == want
    vpath = c.call(pool_path(c, "default"), POOL_IFACE, "LookupVolume", "s", ("look.img",), "(o)")
    assert info(ok(env, "vol-info", vpath)) == want
    assert info(ok(env, "vol-info", "--bytes", f)) == {
        "Name": "look.img", "Type": "file", "Capacity": f"{MiB} bytes",
        "Allocation": "0 bytes"}

    assert ok(env, "vol-path", "look.img", "--pool", "default") == f"{f}\n"
    assert ok(env, "vol-path", vpath) == f"{f}\n"
    assert ok(env, "vol-pool", f) == "default\n"
    xml = ok(env, "vol-dumpxml", f)
    assert xml == c.call(vpath, VOLUME_IFACE, "GetXMLDesc", "t", (0,), "(s)").rstrip("\n") + "\n"
    assert ET.fromstring(xml).findtext("name") == "look.img"

    # a bare name needs its pool
    err = fail(env, "vol-info", "look.img")
    assert "look.img" in err and "--pool" in err
    err = fail(env, "vol-info", "nosuch.img", "--pool", "default")
    assert "nosuch.img" in err
    err = fail(env, "vol-info", default_dir(env) / "nosuch.img")
    assert "no storage volume with matching path" in err
    fail(env, "vol-info", "look.img", "--pool", "nosuch")
    assert "requires <vol>" in fail(env, "vol-info", rc=2)


def test_vol_resize(env, c):
    ok(env, "vol-create-as", "default", "r.img", "10M")
    f = default_dir(env) / "r.img"
    assert ok(env, "vol-resize", "r.img", "20MiB", "--pool", "default") == \
        "Size of volume 'r.img' successfully changed to 20MiB\n"
    assert f.stat().st_size == 20 * MiB
    assert ok(env, "vol-resize", f, "1M", "--delta") == \
        "Size of volume 'r.img' successfully changed to 1M\n"
    assert f.stat().st_size == 21 * MiB
    assert info(ok(env, "vol-info", "--bytes", f))["Capacity"] == f"{21 * MiB} bytes"
    # shrinking is refused and changes nothing
    fail(env, "vol-resize", f, "1M")
    assert f.stat().st_size == 21 * MiB
    assert "malformed" in fail(env, "vol-resize", f, "-1M", "--delta", rc=2)

    ok(env, "vol-create-as", "default", "r.qcow2", "1G", "--format", "qcow2")
    ok(env, "vol-resize", "--pool", "default", "r.qcow2", "2G")
    vs = qemu_img_virtual_size(default_dir(env) / "r.qcow2")
    assert vs is None or vs == 2 * GiB
    assert info(ok(env, "vol-info", "r.qcow2", "--pool", "default"))["Capacity"] == "2.00 GiB"


def test_vol_wipe(env, c):
    ok(env, "vol-create-as", "default", "w.img", "3M")
    f = default_dir(env) / "w.img"
    with open(f, "r+b") as fh:
        fh.seek(MiB)
        fh.write(b"\xaa" * 4096)

    assert ok(env, "vol-wipe", "w.img", "--pool", "default") == "Vol w.img wiped\n"
    data = f.read_bytes()
    assert len(data) == 3 * MiB and data.count(0) == len(data)
    assert allocated(f) >= 3 * MiB, "a wipe writes the holes too"

    assert ok(env, "vol-wipe", f, "--algorithm", "random") == "Vol w.img wiped\n"
    data = f.read_bytes()
    assert len(data) == 3 * MiB and data.count(0) < len(data) // 100

    assert ok(env, "vol-wipe", f, "--algorithm", "zero") == "Vol w.img wiped\n"
    assert f.read_bytes().count(0) == 3 * MiB

    err = fail(env, "vol-wipe", f, "--algorithm", "nnsa", rc=2)
    assert "zero" in err and "random" in err
    fail(env, "vol-wipe", "nosuch", "--pool", "default")


def test_vol_wipe_progress_on_a_terminal(env, c):
    """With stderr on a tty, vol-wipe shows virsh's "Wipe: [ NN %]" while the
    volume's GetJobInfo reports a bounded job, and ends with 100 %."""
    ok(env, "vol-create-as", "default", "big.img", "1G")
    master, slave = pty.openpty()
    argv = [str(domctl_binary()), "--bus", env.address, "vol-wipe", "big.img", "--pool",
            "default"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    env.procs.append(p)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: domctl exited and closed the pty
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    assert p.wait(10) == 0, out
    text = out.decode()
    assert text.endswith("Vol big.img wiped\r\n"), text
    steps = re.findall(r"Wipe: \[ *(\d+) %\]", text)
    if steps:  # a fast disk may be done before the first look at the job
        assert steps[-1] == "100", text
        assert [int(s) for s in steps] == sorted(int(s) for s in steps), text
    assert allocated(default_dir(env) / "big.img") >= GiB


def test_vol_delete(env, c):
    ok(env, "vol-create-as", "default", "d.img", "1M")
    f = default_dir(env) / "d.img"
    assert ok(env, "vol-delete", "d.img", "--pool", "default") == "Vol d.img deleted\n"
    assert not f.exists()
    assert table(ok(env, "vol-list", "default"))[1] == []
    fail(env, "vol-delete", "d.img", "--pool", "default")
    ok(env, "vol-create-as", "default", "d2.img", "1M")
    assert ok(env, "vol-delete", default_dir(env) / "d2.img") == "Vol d2.img deleted\n"
    assert not (default_dir(env) / "d2.img").exists()


def test_volume_in_use(env, c):
    ok(env, "vol-create-as", "default", "used.img", "1M")
    f = default_dir(env) / "used.img"
    disk = (f"<devices><disk type='file' device='disk'><source file='{f}'/>"
            f"<target dev='vda'/></disk></devices>")
    d = c.define(domain_xml("user", extra=disk))
    d.start()
    assert "user" in fail(env, "vol-wipe", f)
    fail(env, "vol-delete", f)
    assert f.exists()
    d.destroy()
    d.undefine()


# ---------------------------------------------------------------------------
# undefine --remove-all-storage


def _disks(*files):
    return ("<devices>" + "".join(
        f"<disk type='file' device='disk'><source file='{f}'/><target dev='vd{chr(97 + i)}'/>"
        "</disk>" for i, f in enumerate(files)) + "</devices>")


def test_undefine_remove_all_storage(env, c, tmp_path):
    ok(env, "vol-create-as", "default", "u1.img", "1M")
    ok(env, "vol-create-as", "default", "u2.qcow2", "1G", "--format", "qcow2")
    v1, v2 = default_dir(env) / "u1.img", default_dir(env) / "u2.qcow2"
    outside = tmp_path / "outside.img"
    outside.write_bytes(b"\x11" * 4096)
    c.define(domain_xml("withdisks", extra=_disks(v1, v2, outside)))

    assert "requires --remove-all-storage" in fail(env, "undefine", "withdisks",
                                                   "--wipe-storage", rc=2)
    assert ok(env, "undefine", "withdisks", "--remove-all-storage") == \
        "Domain 'withdisks' has been undefined\n"
    assert not v1.exists() and not v2.exists()
    assert outside.read_bytes() == b"\x11" * 4096, "a disk outside every pool stays"
    assert table(ok(env, "vol-list", "default"))[1] == []
    assert ok(env, "list", "--all", "--name") == ""

    ok(env, "vol-create-as", "default", "u3.img", "1M")
    c.define(domain_xml("wiped", extra=_disks(default_dir(env) / "u3.img")))
    assert ok(env, "undefine", "wiped", "--remove-all-storage", "--wipe-storage") == \
        "Domain 'wiped' has been undefined\n"
    assert not (default_dir(env) / "u3.img").exists()

    # without the flag, the volumes stay
    ok(env, "vol-create-as", "default", "u4.img", "1M")
    c.define(domain_xml("keeps", extra=_disks(default_dir(env) / "u4.img")))
    ok(env, "undefine", "keeps")
    assert (default_dir(env) / "u4.img").exists()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""org.domaind1.Manager, Hypervisor basics, ListDomains filters,
GetManagedObjects, plugin loading."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import (F, REPO_ROOT, ROOT_PATH, TEST_HV_PATH, HV_IFACE, MANAGER_IFACE,
                     DOMAIN_IFACE, SNAPSHOT_IFACE, E_INVALID_ARGUMENT, domain_xml,
                     snapshot_xml, new_uuid, assert_error, parse_interfaces, plugin_dir,
                     wait_until, Recorder)


def project_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (REPO_ROOT / "meson.build").read_text())
    return m.group(1)


def test_version(c):
    v = c.manager("Version")
    assert v == project_version()


def test_hypervisors_lists_test(c):
    hvs = c.manager("Hypervisors")
    assert TEST_HV_PATH in hvs
    # everything published is reachable and is a Hypervisor
    for p in hvs:
        assert re.fullmatch(r"/org/domaind1/[a-z0-9_]+", p)
        assert c.get(p, HV_IFACE, "Name") == p.rsplit("/", 1)[1]
    # a plugin is either published or listed as unavailable, never both
    unavailable = [n for n, _why in c.manager("UnavailablePlugins")]
    names = [p.rsplit("/", 1)[1] for p in hvs]
    assert not set(names) & set(unavailable)
    for so in Path(plugin_dir()).glob("*.so"):
        assert so.stem in names or so.stem in unavailable, f"{so.name} neither published nor unavailable"


def test_test_hypervisor_properties(c):
    props = c.get_all(TEST_HV_PATH, HV_IFACE)
    assert props["Name"] == "test"
    assert props["URI"].startswith("test://")
    assert isinstance(props["Version"], str) and props["Version"] != ""
    caps = c.hv_call("GetCapabilities", reply="(s)")
    import xml.etree.ElementTree as ET
    assert ET.fromstring(caps).tag == "capabilities"


def test_starts_empty(c):
    assert c.list_domains(0) == []
    assert c.hv_call("ListDomains", "t", (0,), "(ao)") == []
    objs = c.managed_objects()
    # the ObjectManager lists the objects below it (D-Bus spec), not itself
    assert TEST_HV_PATH in objs
    assert not [p for p in objs if "/domain/" in p]


def _unavailable_env(make_env, tmp_path, extra):
    pdir = tmp_path / "plugins"
    pdir.mkdir()
    shutil.copy(Path(plugin_dir()) / "test.so", pdir / "test.so")
    for name, builder in extra.items():
        builder(pdir / name)
    e = make_env(name="plugins", plugin_dir_override=pdir)
    e.start()
    return e


def _build_wrong_abi(path):
    src = path.with_suffix(".c")
    src.write_text("""
#include "domaind/plugin.h"
static const DomaindPlugin table = {
        .abi_version = 999,
        .name = "wrongabi",
        .uri = "wrongabi:///system",
};
__attribute__((visibility("default"))) const DomaindPlugin *domaind_plugin_entry(void) { return &table; }
""")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(path), f"-I{REPO_ROOT / 'include'}",
                    str(src)], check=True)
    src.unlink()


def test_unavailable_plugins(make_env, tmp_path):
    e = _unavailable_env(make_env, tmp_path, {
        "bogus.so": lambda p: p.write_bytes(b""),
        "wrongabi.so": _build_wrong_abi,
    })
    c = e.client()
    assert c.manager("Hypervisors") == [TEST_HV_PATH]
    unavailable = dict(c.manager("UnavailablePlugins"))
    log = e.log()
    # each broken plugin is listed with the reason, and logged
    assert set(unavailable) == {"bogus", "wrongabi"}, unavailable
    assert unavailable["bogus"].strip() != ""
    assert "999" in unavailable["wrongabi"], unavailable["wrongabi"]
    assert "bogus.so" in log and "wrongabi.so" in log
    assert "test" not in unavailable
    # the others still work
    d = c.define(domain_xml("ok"))
    d.start()
    assert d.state == "running"
    d.destroy()


def _fleet(env, c):
    """Domains in every interesting situation; returns {key: Domain}."""
    doms = {}
    doms["a"] = c.define(domain_xml("a-shutoff-autostart"))
    doms["a"].set_autostart(True)
    doms["b"] = c.define(domain_xml("b-running-snap"))
    doms["b"].start()
    doms["b"].snapshot(snapshot_xml("s1"))
    doms["c"] = c.define(domain_xml("c-paused"))
    doms["c"].start(F.START_PAUSED)
    doms["d"] = c.create(domain_xml("d-transient-running"))
    doms["e"] = c.define(domain_xml("e-managedsave"))
    doms["e"].start()
    doms["e"].managed_save()
    doms["f"] = c.create(domain_xml("f-transient-paused"), F.CREATE_START_PAUSED)
    doms["g"] = c.define(domain_xml("g-shutdown-preserved", on_poweroff="preserve"))
    doms["g"].start()
    r = Recorder(c)
    env.hook(doms["g"].uuid, "shutdown")
    wait_until(lambda: doms["g"].state == "shutdown", what="g in state shutdown")
    r.stop()
    expect_states = {"a": "shutoff", "b": "running", "c": "paused", "d": "running",
                     "e": "saved", "f": "paused", "g": "shutdown"}
    for k, st in expect_states.items():
        assert doms[k].state == st, k
    return doms


def test_list_domains_flags(env, c):
    doms = _fleet(env, c)
    paths = {k: d.path for k, d in doms.items()}

    def sel(keys):
        return sorted(paths[k] for k in keys)

    every = "abcdefg"
    # the managed-saved domain (state "saved") is libvirt's shut off; domaind
    # may count it as SHUTOFF or as OTHER, but in exactly one of them
    in_shutoff = paths["e"] in c.list_domains(F.SHUTOFF)
    in_other = paths["e"] in c.list_domains(F.OTHER)
    assert in_shutoff != in_other, "saved domain must be SHUTOFF xor OTHER"
    shutoff = "ae" if in_shutoff else "a"
    other = "g" if in_shutoff else "eg"

    cases = {
        0: every,
        F.ACTIVE: "bcdfg",
        F.INACTIVE: "ae",
        F.PERSISTENT: "abceg",
        F.TRANSIENT: "df",
        F.RUNNING: "bd",
        F.PAUSED: "cf",
        F.SHUTOFF: shutoff,
        F.OTHER: other,
        F.MANAGEDSAVE: "e",
        F.NO_MANAGEDSAVE: "abcdfg",
        F.AUTOSTART: "a",
        F.NO_AUTOSTART: "bcdefg",
        F.HAS_SNAPSHOT: "b",
        F.NO_SNAPSHOT: "acdefg",
        # same group: union
        F.ACTIVE | F.INACTIVE: every,
        F.PERSISTENT | F.TRANSIENT: every,
        F.RUNNING | F.PAUSED: "bcdf",
        F.RUNNING | F.PAUSED | F.SHUTOFF | F.OTHER: every,
        F.MANAGEDSAVE | F.NO_MANAGEDSAVE: every,
        F.AUTOSTART | F.NO_AUTOSTART: every,
        F.HAS_SNAPSHOT | F.NO_SNAPSHOT: every,
        # different groups: intersection
        F.ACTIVE | F.PERSISTENT: "bcg",
        F.INACTIVE | F.TRANSIENT: "",
        F.ACTIVE | F.TRANSIENT: "df",
        F.PERSISTENT | F.RUNNING | F.PAUSED: "bc",
        F.TRANSIENT | F.PAUSED: "f",
        F.ACTIVE | F.NO_SNAPSHOT: "cdfg",
        F.INACTIVE | F.MANAGEDSAVE: "e",
        F.INACTIVE | F.NO_MANAGEDSAVE: "a",
        F.AUTOSTART | F.SHUTOFF: "a",
        F.AUTOSTART | F.RUNNING: "",
        F.HAS_SNAPSHOT | F.RUNNING | F.PERSISTENT | F.ACTIVE: "b",
        F.NO_AUTOSTART | F.NO_SNAPSHOT | F.NO_MANAGEDSAVE | F.PERSISTENT: "cg",
        # all 14 flags: every group complete
        (1 << 14) - 1: every,
    }
    for flags, keys in cases.items():
        got_m = c.list_domains(flags)
        got_h = sorted(c.hv_call("ListDomains", "t", (flags,), "(ao)"))
        want = sel(keys)
        assert got_m == want, f"Manager.ListDomains({flags:#x}): {got_m} != {want} ({keys})"
        assert got_h == want, f"Hypervisor.ListDomains({flags:#x}): {got_h} != {want} ({keys})"

    for flags in (1 << 14, 1 << 20, 1 << 63):
        assert_error(c.call_error(ROOT_PATH, MANAGER_IFACE, "ListDomains", "t", (flags,), "(ao)"),
                     E_INVALID_ARGUMENT)
        assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "ListDomains", "t", (flags,), "(ao)"),
                     E_INVALID_ARGUMENT)
    doms["g"].destroy()


def _xml_properties():
    out = {}
    for f in (REPO_ROOT / "introspection").glob("org.domaind1.*.xml"):
        out.update({k: v["properties"] for k, v in parse_interfaces(f.read_text()).items()})
    return out


def test_get_managed_objects_carries_every_property(env, c):
    props_by_iface = _xml_properties()
    assert {"org.domaind1.Manager", "org.domaind1.Hypervisor", "org.domaind1.Domain",
            "org.domaind1.Snapshot"} <= set(props_by_iface)
    d1 = c.define(domain_xml("gmo-1", memory_kib=262144, current_kib=131072, vcpus=2))
    d2 = c.create(domain_xml("gmo-2"))
    s = d1.snapshot(snapshot_xml("first", "a snapshot"))
    d1.start()
    objs = c.managed_objects()
    for p in (TEST_HV_PATH, d1.path, d2.path, s.path):
        assert p in objs, f"{p} missing from GetManagedObjects"
    assert HV_IFACE in objs[TEST_HV_PATH]
    assert DOMAIN_IFACE in objs[d1.path] and DOMAIN_IFACE in objs[d2.path]
    assert SNAPSHOT_IFACE in objs[s.path]
    checked = 0
    for path, ifaces in objs.items():
        for iface, props in ifaces.items():
            if not iface.startswith("org.domaind1."):
                continue
            assert set(props) == set(props_by_iface[iface]), \
                f"{path} {iface}: {sorted(props)} != {sorted(props_by_iface[iface])}"
            live = c.get_all(path, iface)
            for k, v in props.items():
                if k == "CPUTime":
                    continue
                assert live[k] == v, f"{path} {iface}.{k}: GetManagedObjects {v!r} != Get {live[k]!r}"
                checked += 1
    assert checked > 30
    dp = objs[d1.path][DOMAIN_IFACE]
    assert dp["Name"] == "gmo-1" and dp["State"] == "running" and dp["Persistent"] is True
    assert dp["MaxMemory"] == 262144 and dp["Memory"] == 131072 and dp["VCPUs"] == 2
    assert dp["CurrentSnapshot"] == s.path
    assert dp["Hypervisor"] == TEST_HV_PATH
    assert objs[d2.path][DOMAIN_IFACE]["Persistent"] is False
    assert objs[s.path][SNAPSHOT_IFACE]["Name"] == "first"
    assert objs[s.path][SNAPSHOT_IFACE]["Description"] == "a snapshot"
    d1.destroy()
    d2.destroy()


def test_interfaces_added_removed(env, c, rec):
    d = c.define(domain_xml("om"))
    rec.wait_added(d.path)
    added = [e for e in rec.snapshot() if e.kind == "added" and e.path == d.path][0]
    assert DOMAIN_IFACE in added.ifaces
    assert added.ifaces[DOMAIN_IFACE]["Name"] == "om"
    assert added.ifaces[DOMAIN_IFACE]["State"] == "shutoff"
    d.undefine()
    rec.wait_removed(d.path)
    removed = [e for e in rec.snapshot() if e.kind == "removed" and e.path == d.path][0]
    assert DOMAIN_IFACE in removed.ifaces
    assert d.path not in c.managed_objects()


def test_lookup_by_name_uuid_id(env, c):
    u = new_uuid()
    d = c.define(domain_xml("look", uuid=u))
    assert c.lookup("look") == d
    assert c.hv_call("LookupByUUID", "s", (u,), "(o)") == d.path
    assert c.hv_call("LookupByUUID", "s", (u.replace("-", ""),), "(o)") == d.path
    d.start()
    i = d.id
    assert i >= 0
    assert c.hv_call("LookupByID", "i", (i,), "(o)") == d.path
    d.destroy()
    assert d.id == -1

# SPDX-License-Identifier: LGPL-2.1-or-later
"""What domaind publishes is exactly introspection/org.domaind1.*.xml."""

import pytest

from harness import (REPO_ROOT, ROOT_PATH, TEST_HV_PATH, domain_xml, snapshot_xml,
                     parse_interfaces, child_nodes)

INTROSPECTION = REPO_ROOT / "introspection"


def reference(iface):
    f = INTROSPECTION / f"{iface}.xml"
    assert f.exists(), f"{f} missing"
    ifaces = parse_interfaces(f.read_text())
    assert iface in ifaces, f"{f} does not define {iface}"
    return ifaces[iface]


def published(c, path):
    return {k: v for k, v in parse_interfaces(c.introspect(path)).items()
            if not k.startswith("org.freedesktop.")}


def assert_same(got, want, iface, path):
    for kind in ("methods", "properties", "signals"):
        g, w = got[kind], want[kind]
        assert set(g) == set(w), (f"{path} {iface} {kind}: published {sorted(g)}, "
                                  f"introspection XML {sorted(w)}")
        for name in w:
            assert g[name] == w[name], (f"{path} {iface} {kind[:-1]} {name}: published {g[name]}, "
                                        f"introspection XML {w[name]}")


@pytest.fixture
def objects(env, c):
    d = c.define(domain_xml("intro"))
    s = d.snapshot(snapshot_xml("snap"))
    return {ROOT_PATH: ["org.domaind1.Manager"],
            TEST_HV_PATH: ["org.domaind1.Hypervisor"],
            d.path: ["org.domaind1.Domain"],
            s.path: ["org.domaind1.Snapshot"]}


def test_reference_files_parse():
    for iface in ("Manager", "Hypervisor", "Domain", "Snapshot", "StoragePool", "StorageVolume"):
        ref = reference(f"org.domaind1.{iface}")
        assert ref["methods"] or ref["properties"]


@pytest.mark.parametrize("which", ["root", "hypervisor", "domain", "snapshot"])
def test_published_interfaces_match_xml(c, objects, which):
    path = list(objects)[["root", "hypervisor", "domain", "snapshot"].index(which)]
    got = published(c, path)
    assert sorted(got) == sorted(objects[path]), f"{path} publishes {sorted(got)}"
    for iface in objects[path]:
        assert_same(got[iface], reference(iface), iface, path)


def test_root_is_object_manager(c, objects):
    ifaces = parse_interfaces(c.introspect(ROOT_PATH))
    assert "org.freedesktop.DBus.ObjectManager" in ifaces
    assert "org.freedesktop.DBus.Properties" in ifaces
    # the tree is walkable from the root
    assert "test" in child_nodes(c.introspect(ROOT_PATH))
    assert "domain" in child_nodes(c.introspect(TEST_HV_PATH))
    dom = [p for p in objects if "/domain/" in p and "/snapshot/" not in p][0]
    assert dom.rsplit("/", 1)[1] in child_nodes(c.introspect(TEST_HV_PATH + "/domain"))


def test_manager_reference_matches_design():
    """Spot checks of the XML against DESIGN.md signatures."""
    m = reference("org.domaind1.Manager")
    assert m["properties"]["Version"] == ("s", "read")
    assert m["properties"]["Hypervisors"] == ("ao", "read")
    assert m["properties"]["UnavailablePlugins"] == ("a(ss)", "read")
    assert m["methods"]["ListDomains"] == [("t", "in"), ("ao", "out")]
    h = reference("org.domaind1.Hypervisor")
    assert h["methods"]["Restore"] == [("s", "in"), ("s", "in"), ("t", "in"), ("o", "out")]
    assert h["signals"]["DomainEvent"] == ["o", "s", "s"]
    d = reference("org.domaind1.Domain")
    assert d["properties"]["Autostart"] == ("b", "readwrite")
    assert d["properties"]["State"] == ("s", "read")
    assert d["methods"]["Save"] == [("s", "in"), ("s", "in"), ("t", "in")]
    assert d["methods"]["OpenConsole"] == [("s", "in"), ("t", "in"), ("h", "out")]
    assert d["methods"]["Migrate"] == [("s", "in"), ("a{sv}", "in"), ("t", "in")]
    s = reference("org.domaind1.Snapshot")
    assert s["properties"]["CreationTime"] == ("t", "read")
    assert s["properties"]["Parent"] == ("o", "read")

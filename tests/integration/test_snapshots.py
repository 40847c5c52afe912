# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshots: create, tree, properties, XML, revert, delete, metadata files."""

import os
import re
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (F, SNAPSHOT_IFACE, DOMAIN_IFACE, E_INVALID_STATE, E_ALREADY_EXISTS,
                     E_NO_SUCH_SNAPSHOT, E_UNKNOWN_OBJECT, E_INVALID_XML, Snapshot, domain_xml,
                     snapshot_xml, snapshot_path, new_uuid, state_of, assert_error, wait_until,
                     pump, assert_state_precedes_events)


def meta(env, d, name):
    return env.snapshot_dir(d.uuid) / f"{name}.xml"


def test_create_properties_and_files(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("snap", uuid=u))
    d.start()
    rec.clear()
    t0 = int(time.time())
    s1 = d.snapshot(snapshot_xml("s1", "the first one"))
    assert s1.path == snapshot_path(d.path, "s1")
    p = s1.props()
    assert p["Name"] == "s1"
    assert p["Description"] == "the first one"
    assert t0 - 2 <= p["CreationTime"] <= int(time.time()) + 2
    assert p["State"] == "running"
    assert p["Parent"] == "/"
    assert p["IsCurrent"] is True
    assert d.prop("CurrentSnapshot") == s1.path
    rec.wait_added(s1.path)
    added = [e for e in rec.snapshot() if e.kind == "added" and e.path == s1.path][0]
    assert added.ifaces[SNAPSHOT_IFACE]["Name"] == "s1"
    rec.wait_prop(d.path, "CurrentSnapshot", s1.path)
    # a snapshot changes no state: no lifecycle event
    assert rec.domain_events(d.path) == []
    assert state_of(d) == ("running", "booted")
    f = meta(env, d, "s1")
    assert f.is_file()
    x = ET.fromstring(f.read_text())
    assert x.tag == "domainsnapshot"
    assert x.find("name").text == "s1"
    assert x.find("description").text == "the first one"
    assert x.find("state").text == "running"
    assert x.find("domain") is not None and x.find("domain/uuid").text == u
    assert sorted(os.listdir(f.parent)) == ["s1.xml"]

    # without a name: named after the creation time; parent is the previous current
    d.suspend()
    s2 = d.snapshot("<domainsnapshot/>")
    p2 = s2.props()
    assert re.fullmatch(r"\d+", p2["Name"]), p2["Name"]
    assert abs(int(p2["Name"]) - p2["CreationTime"]) <= 1
    assert p2["State"] == "paused"
    assert p2["Parent"] == s1.path
    assert p2["IsCurrent"] is True
    assert s1.prop("IsCurrent") is False
    rec.wait_prop(s1.path, "IsCurrent", False)
    assert d.prop("CurrentSnapshot") == s2.path
    assert d.state == "paused"

    d.destroy()
    s3 = d.snapshot(snapshot_xml("s3"))
    assert s3.prop("State") == "shutoff"
    assert s3.prop("Parent") == s2.path
    assert sorted(os.listdir(f.parent)) == sorted(["s1.xml", f"{p2['Name']}.xml", "s3.xml"])

    x = ET.fromstring(s3.xml())
    assert x.tag == "domainsnapshot" and x.find("name").text == "s3"
    assert x.find("parent/name").text == p2["Name"]
    assert x.find("state").text == "shutoff"
    assert int(x.find("creationTime").text) == s3.prop("CreationTime")
    assert ET.fromstring(s1.xml()).find("description").text == "the first one"


def test_snapshot_name_rules(env, c):
    d = c.define(domain_xml("names"))
    s = d.snapshot(snapshot_xml("with space-and.dot"))
    assert s.path == snapshot_path(d.path, "with space-and.dot")
    assert s.prop("Name") == "with space-and.dot"
    assert_error(d.call_error("CreateSnapshot", "st", (snapshot_xml("with space-and.dot"), 0),
                              "(o)"), E_ALREADY_EXISTS)
    # as libvirt: no '/' in a snapshot name (it names a file)
    assert_error(d.call_error("CreateSnapshot", "st", (snapshot_xml("a/b"), 0), "(o)"),
                 E_INVALID_XML, "/")
    e = d.call_error("CreateSnapshot", "st", ("<domainsnapshot><name>x</name>", 0), "(o)")
    assert e.name == E_INVALID_XML, e
    assert d.snapshots() == [s.path]


def build_tree(d):
    """a -> b -> c, and b -> d2 (after reverting to b)."""
    a = d.snapshot(snapshot_xml("a"))
    b = d.snapshot(snapshot_xml("b"))
    cc = d.snapshot(snapshot_xml("c"))
    b.revert()
    dd = d.snapshot(snapshot_xml("d"))
    return a, b, cc, dd


def test_tree_and_lists(env, c):
    d = c.define(domain_xml("tree"))
    d.start()
    a, b, cc, dd = build_tree(d)
    assert dd.prop("Parent") == b.path
    assert cc.prop("Parent") == b.path
    assert b.prop("Parent") == a.path
    assert a.prop("Parent") == "/"
    assert d.snapshots() == sorted([a.path, b.path, cc.path, dd.path])
    assert d.snapshots(F.SNAP_LIST_ROOTS) == [a.path]
    assert d.snapshots(F.SNAP_LIST_LEAVES) == sorted([cc.path, dd.path])
    assert d.snapshots(F.SNAP_LIST_NO_LEAVES) == sorted([a.path, b.path])
    assert a.children() == [b.path]
    assert b.children() == sorted([cc.path, dd.path])
    assert a.children(F.SNAP_LIST_DESCENDANTS) == sorted([b.path, cc.path, dd.path])
    assert cc.children() == []
    assert [p for p in (a, b, cc, dd) if p.prop("IsCurrent")] == [dd]
    objs = c.managed_objects()
    for s in (a, b, cc, dd):
        assert SNAPSHOT_IFACE in objs[s.path]
    d.destroy()


def lifecycle(rec, d):
    """The domain's events without `defined from-snapshot` (a persistent
    domain's config changes on revert; libvirt sends that event too)."""
    evs = rec.domain_events(d.path)
    for e in evs:
        if e[0] == "defined":
            assert e == ("defined", "from-snapshot"), evs
    return [e for e in evs if e[0] != "defined"]


def test_revert_states(env, c, rec):
    d = c.define(domain_xml("rev"))
    d.start()
    running = d.snapshot(snapshot_xml("running"))
    d.suspend()
    paused = d.snapshot(snapshot_xml("paused"))
    d.destroy()
    off = d.snapshot(snapshot_xml("off"))

    rec.clear()
    running.revert()
    assert state_of(d) == ("running", "from-snapshot")
    assert lifecycle(rec, d) == [("started", "from-snapshot")]
    assert assert_state_precedes_events(rec, d.path, "shutoff") == 1
    assert d.prop("CurrentSnapshot") == running.path
    assert running.prop("IsCurrent") is True and off.prop("IsCurrent") is False
    assert d.id >= 0

    rec.clear()
    paused.revert()
    assert state_of(d) == ("paused", "from-snapshot")
    assert lifecycle(rec, d)[-1] == ("suspended", "from-snapshot")

    rec.clear()
    off.revert()
    assert state_of(d) == ("shutoff", "from-snapshot")
    assert lifecycle(rec, d) == [("stopped", "from-snapshot")]
    assert d.id == -1
    assert assert_state_precedes_events(rec, d.path, "paused") == 1

    # flags override the snapshot's state
    rec.clear()
    running.revert(F.REVERT_PAUSED)
    assert d.state == "paused"
    assert lifecycle(rec, d)[-1] == ("suspended", "from-snapshot")
    d.destroy()
    off.revert(F.REVERT_RUNNING)
    assert d.state == "running"
    d.destroy()


def test_revert_restores_config(env, c):
    u = new_uuid()
    d = c.define(domain_xml("cfg", uuid=u, memory_kib=131072))
    s = d.snapshot(snapshot_xml("small"))
    c.define(domain_xml("cfg", uuid=u, memory_kib=262144))
    assert d.prop("MaxMemory") == 262144
    s.revert()
    assert d.prop("MaxMemory") == 131072
    assert int(ET.fromstring(d.xml(F.XML_INACTIVE)).find("memory").text) == 131072
    cfg = env.config_file(u).read_text()
    assert int(ET.fromstring(cfg).find("memory").text) == 131072


def test_halt(env, c, rec):
    d = c.define(domain_xml("halt"))
    d.start()
    rec.clear()
    s = d.snapshot(snapshot_xml("h"), F.SNAP_CREATE_HALT)
    assert s.prop("State") == "running"
    assert state_of(d) == ("shutoff", "from-snapshot")
    assert rec.domain_events(d.path) == [("stopped", "from-snapshot")]


def test_delete_plain_reparents(env, c, rec):
    d = c.define(domain_xml("del"))
    a, b, cc, dd = build_tree(d)
    files_before = sorted(os.listdir(env.snapshot_dir(d.uuid)))
    assert files_before == ["a.xml", "b.xml", "c.xml", "d.xml"]
    b.delete()
    rec.wait_removed(b.path)
    assert cc.prop("Parent") == a.path
    assert dd.prop("Parent") == a.path
    assert a.children() == sorted([cc.path, dd.path])
    assert d.snapshots() == sorted([a.path, cc.path, dd.path])
    assert sorted(os.listdir(env.snapshot_dir(d.uuid))) == ["a.xml", "c.xml", "d.xml"]
    x = ET.fromstring(meta(env, d, "c").read_text())
    assert x.find("parent/name").text == "a"
    e = b.call_error("GetXMLDesc", "t", (0,), "(s)")
    assert e.name in (E_NO_SUCH_SNAPSHOT, E_UNKNOWN_OBJECT), e


def test_delete_current_makes_parent_current(env, c):
    d = c.define(domain_xml("delcur"))
    a = d.snapshot(snapshot_xml("a"))
    b = d.snapshot(snapshot_xml("b"))
    assert d.prop("CurrentSnapshot") == b.path
    b.delete()
    assert d.prop("CurrentSnapshot") == a.path
    assert a.prop("IsCurrent") is True
    a.delete()
    assert d.prop("CurrentSnapshot") == "/"
    assert d.snapshots() == []


def test_delete_children(env, c):
    d = c.define(domain_xml("delch"))
    a, b, cc, dd = build_tree(d)
    b.delete(F.SNAP_DELETE_CHILDREN)
    assert d.snapshots() == [a.path]
    assert sorted(os.listdir(env.snapshot_dir(d.uuid))) == ["a.xml"]
    assert d.prop("CurrentSnapshot") == a.path  # current (d) was among them


def test_delete_children_only(env, c):
    d = c.define(domain_xml("delco"))
    a, b, cc, dd = build_tree(d)
    a.delete(F.SNAP_DELETE_CHILDREN_ONLY)
    assert d.snapshots() == [a.path]
    assert a.children() == []
    assert sorted(os.listdir(env.snapshot_dir(d.uuid))) == ["a.xml"]


def test_undefine_with_snapshots(env, c):
    u = new_uuid()
    d = c.define(domain_xml("undsnap", uuid=u))
    s = d.snapshot(snapshot_xml("x"))
    assert_error(d.call_error("Undefine", "t", (0,)), E_INVALID_STATE)
    assert d.exists() and meta(env, d, "x").exists()
    d.undefine(F.UNDEFINE_SNAPSHOTS_METADATA)
    assert not d.exists()
    objs = c.managed_objects()
    assert s.path not in objs
    assert not env.snapshot_dir(u).exists() or os.listdir(env.snapshot_dir(u)) == []
    assert not env.config_file(u).exists()


def test_transient_domain_snapshots(env, c):
    t = c.create(domain_xml("tsnap"))
    s = t.snapshot(snapshot_xml("ts"))
    assert s.prop("State") == "running"
    t.destroy()
    # the transient domain is gone and so are its snapshots
    objs = c.managed_objects()
    assert t.path not in objs and s.path not in objs


def test_has_snapshot_filter(env, c):
    a = c.define(domain_xml("hs-a"))
    b = c.define(domain_xml("hs-b"))
    s = b.snapshot(snapshot_xml("x"))
    assert c.list_domains(F.HAS_SNAPSHOT) == [b.path]
    assert c.list_domains(F.NO_SNAPSHOT) == [a.path]
    s.delete()
    assert c.list_domains(F.HAS_SNAPSHOT) == []

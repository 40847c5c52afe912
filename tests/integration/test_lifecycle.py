# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every Domain method as service/LIFECYCLE.md describes it: states,
reasons, events, properties, signal order."""

import os
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (F, TEST_HV_PATH, DOMAIN_IFACE, HV_IFACE, E_INVALID_STATE,
                     E_INVALID_ARGUMENT, E_ALREADY_EXISTS, E_NOT_SUPPORTED,
                     E_HYPERVISOR_FAILED, GLib, Recorder, domain_xml, new_uuid, state_of,
                     assert_error, assert_ordered, order_of, wait_until, uuid32, pump,
                     assert_state_precedes_events)


def define(c, name="vm", **kw):
    return c.define(domain_xml(name, **kw))


# ---------------------------------------------------------------------------
# DefineXML / properties


def test_define_properties(env, c, rec):
    u = new_uuid()
    p = c.hv_call("DefineXML", "st", (domain_xml("props", uuid=u, memory_kib=262144,
                                                 current_kib=131072, vcpus=3), 0), "(o)")
    assert p == f"/org/domaind1/test/domain/{uuid32(u)}"
    d = c.domain(p)
    props = d.props()
    assert props["Name"] == "props"
    assert props["UUID"] == u
    assert props["Id"] == -1
    assert props["State"] == "shutoff"
    assert props["StateReason"] == "unknown"
    assert props["Persistent"] is True
    assert props["Autostart"] is False
    assert props["HasManagedSave"] is False
    assert props["MaxMemory"] == 262144
    assert props["Memory"] == 131072
    assert props["VCPUs"] == 3
    assert props["CPUTime"] == 0
    assert props["CurrentSnapshot"] == "/"
    assert props["Job"] == "none"
    assert props["Hypervisor"] == TEST_HV_PATH
    rec.wait_events(p, [("defined", "added")], exact=True)
    assert all(e.hv == TEST_HV_PATH for e in rec.snapshot() if e.kind == "event")


def test_define_generates_uuid(c):
    d = define(c, "nouuid")
    u = d.uuid
    assert len(u) == 36 and u.count("-") == 4
    assert d.path.endswith("/" + uuid32(u))
    assert f"<uuid>{u}</uuid>" in d.xml()


def test_define_memory_units(c):
    xml = domain_xml("units").replace("<memory unit='KiB'>131072</memory>",
                                      "<memory unit='MiB'>512</memory>")
    d = c.define(xml)
    assert d.prop("MaxMemory") == 512 * 1024
    assert d.prop("Memory") == 512 * 1024


def test_define_ordering(c, rec):
    u = new_uuid()
    p = c.call_async(TEST_HV_PATH, HV_IFACE, "DefineXML", "st", (domain_xml("ord", uuid=u), 0),
                     "(o)", recorder=rec)
    path = p.ok()
    evs = rec.snapshot()
    i_add = next(i for i, e in enumerate(evs) if e.kind == "added" and e.path == path)
    i_ev = next(i for i, e in enumerate(evs) if e.kind == "event" and e.path == path)
    i_reply = next(i for i, e in enumerate(evs) if e.kind == "reply" and e.pending is p)
    assert i_add < i_ev < i_reply, evs
    assert (evs[i_ev].event, evs[i_ev].detail) == ("defined", "added")


def test_define_update(c, rec):
    u = new_uuid()
    d = c.define(domain_xml("upd", uuid=u, memory_kib=131072))
    p = c.call_async(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                     (domain_xml("upd", uuid=u, memory_kib=262144), 0), "(o)", recorder=rec)
    assert p.ok() == d.path
    rec.wait_events(d.path, [("defined", "added"), ("defined", "updated")], exact=True)
    assert d.prop("MaxMemory") == 262144
    assert [e for e in rec.snapshot() if e.kind == "prop" and e.path == d.path
            and e.changed.get("MaxMemory") == 262144], "no PropertiesChanged for MaxMemory"
    assert len(c.list_domains()) == 1


def test_define_update_while_running_is_next_boot_config(c, rec):
    u = new_uuid()
    d = c.define(domain_xml("nextboot", uuid=u, memory_kib=131072))
    d.start()
    c.define(domain_xml("nextboot", uuid=u, memory_kib=262144))
    rec.wait_events(d.path, [("defined", "updated")])
    assert d.state == "running"
    live = ET.fromstring(d.xml())
    inactive = ET.fromstring(d.xml(F.XML_INACTIVE))
    assert int(live.find("memory").text) == 131072
    assert int(inactive.find("memory").text) == 262144
    d.destroy()
    assert int(ET.fromstring(d.xml()).find("memory").text) == 262144


def test_define_running_transient_makes_it_persistent(env, c, rec):
    u = new_uuid()
    xml = domain_xml("t2p", uuid=u)
    d = c.create(xml)
    assert d.prop("Persistent") is False
    assert not env.config_file(u).exists()
    id_before = d.id
    assert c.define(xml) == d
    rec.wait_events(d.path, [("started", "booted"), ("defined", "added")], exact=True)
    assert d.prop("Persistent") is True
    assert state_of(d) == ("running", "booted")
    assert d.id == id_before
    assert env.config_file(u).exists()
    assert True in rec.prop_values(d.path, "Persistent")
    d.destroy()
    assert d.exists() and state_of(d) == ("shutoff", "destroyed")


# ---------------------------------------------------------------------------
# Start / Suspend / Resume / Destroy


def test_start(c, rec):
    d = define(c, "start")
    rec.clear()
    p = d.call_async("Start", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "running", "started", "booted")
    assert state_of(d) == ("running", "booted")
    assert d.id >= 0
    assert rec.domain_events(d.path) == [("started", "booted")]
    assert d.prop("CPUTime") >= 0
    err = d.call_error("Start", "t", (0,))
    assert_error(err, E_INVALID_STATE, "running")
    d.destroy()


def test_ids_are_distinct(c):
    ds = [define(c, f"ids{i}") for i in range(3)]
    for d in ds:
        d.start()
    ids = [d.id for d in ds]
    assert len(set(ids)) == 3 and all(i >= 0 for i in ids)
    for d in ds:
        d.destroy()


def test_start_paused(c, rec):
    d = define(c, "startp")
    p = d.call_async("Start", "t", (F.START_PAUSED,), recorder=rec)
    assert_ordered(rec, d.path, p, "paused", "suspended", "paused")
    assert rec.domain_events(d.path) == [("defined", "added"), ("started", "booted"),
                                         ("suspended", "paused")]
    assert state_of(d) == ("paused", "user")
    assert d.id >= 0
    assert assert_state_precedes_events(rec, d.path, "shutoff") == 2
    d.resume()
    assert state_of(d) == ("running", "unpaused")
    d.destroy()


def test_suspend_resume(c, rec):
    d = define(c, "susp")
    d.start()
    rec.clear()
    p = d.call_async("Suspend", recorder=rec)
    assert_ordered(rec, d.path, p, "paused", "suspended", "paused")
    assert state_of(d) == ("paused", "user")
    # already paused: no-op, no event
    d.suspend()
    assert state_of(d) == ("paused", "user")
    rec.clear()
    p = d.call_async("Resume", recorder=rec)
    assert_ordered(rec, d.path, p, "running", "resumed", "unpaused")
    assert state_of(d) == ("running", "unpaused")
    d.resume()  # running: no-op
    pump(0.1)
    assert rec.domain_events(d.path) == [("resumed", "unpaused")]
    d.destroy()


def test_suspend_resume_inactive_refused(c):
    d = define(c, "suspoff")
    assert_error(d.call_error("Suspend"), E_INVALID_STATE, "shutoff")
    assert_error(d.call_error("Resume"), E_INVALID_STATE, "shutoff")
    assert state_of(d) == ("shutoff", "unknown")


def test_destroy(c, rec):
    d = define(c, "destroy")
    d.start()
    rec.clear()
    p = d.call_async("Destroy", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "shutoff", "stopped", "destroyed")
    assert state_of(d) == ("shutoff", "destroyed")
    assert d.id == -1
    assert_error(d.call_error("Destroy", "t", (0,)), E_INVALID_STATE, "shutoff")


def test_destroy_paused_and_graceful(c, rec):
    d = define(c, "destroyp")
    d.start(F.START_PAUSED)
    d.destroy(F.DESTROY_GRACEFUL)
    assert state_of(d) == ("shutoff", "destroyed")
    rec.wait_events(d.path, [("stopped", "destroyed")])


def test_destroy_transient_removes_object(c, rec):
    d = c.create(domain_xml("tdestroy"))
    rec.clear()
    p = d.call_async("Destroy", "t", (0,), recorder=rec)
    p.ok()
    i_prop, i_ev, i_reply, evs = order_of(rec, d.path, p, "shutoff", "stopped", "destroyed")
    i_rm = next((i for i, e in enumerate(evs) if e.kind == "removed" and e.path == d.path), -1)
    assert i_ev >= 0 and i_rm >= 0, evs
    assert i_ev < i_reply and i_rm < i_reply, evs
    assert d.path not in c.managed_objects()
    assert c.list_domains() == []


def test_cputime(c):
    d = define(c, "cpu")
    assert d.prop("CPUTime") == 0
    d.start()
    time.sleep(0.2)
    t1 = d.prop("CPUTime")
    assert t1 > 0
    time.sleep(0.2)
    t2 = d.prop("CPUTime")
    assert t2 > t1
    d.suspend()
    t3 = d.prop("CPUTime")
    time.sleep(0.2)
    assert d.prop("CPUTime") == t3, "CPU time runs on while paused"
    d.destroy()
    assert d.id == -1


# ---------------------------------------------------------------------------
# CreateXML


def test_create_transient(env, c, rec):
    u = new_uuid()
    p = c.call_async(TEST_HV_PATH, HV_IFACE, "CreateXML", "st", (domain_xml("tr", uuid=u), 0),
                     "(o)", recorder=rec)
    path = p.ok()
    d = c.domain(path)
    i_prop, i_ev, i_reply, evs = order_of(rec, path, p, None, "started", "booted")
    assert 0 <= i_ev < i_reply
    assert rec.domain_events(path) == [("started", "booted")]
    assert state_of(d) == ("running", "booted")
    assert d.prop("Persistent") is False
    assert d.id >= 0
    assert not env.config_file(u).exists()
    d.destroy()


def test_create_paused(c, rec):
    d = c.create(domain_xml("trp"), F.CREATE_START_PAUSED)
    assert state_of(d) == ("paused", "user")
    assert rec.domain_events(d.path) == [("started", "booted"), ("suspended", "paused")]
    d.destroy()


def test_create_over_inactive_persistent_starts_it(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("over", uuid=u, memory_kib=131072))
    d2 = c.create(domain_xml("over", uuid=u, memory_kib=262144))
    assert d2 == d
    assert state_of(d) == ("running", "booted")
    assert d.prop("Persistent") is True
    assert int(ET.fromstring(d.xml()).find("memory").text) == 262144
    assert int(ET.fromstring(d.xml(F.XML_INACTIVE)).find("memory").text) == 131072
    rec.wait_events(d.path, [("defined", "added"), ("started", "booted")], exact=True)
    d.destroy()
    assert int(ET.fromstring(d.xml()).find("memory").text) == 131072


def test_create_over_active_refused(c):
    u = new_uuid()
    d = c.create(domain_xml("act", uuid=u))
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "CreateXML", "st",
                              (domain_xml("act", uuid=u), 0), "(o)"), E_ALREADY_EXISTS)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "CreateXML", "st",
                              (domain_xml("act"), 0), "(o)"), E_ALREADY_EXISTS)
    assert c.list_domains() == [d.path]
    d.destroy()


# ---------------------------------------------------------------------------
# Shutdown / Reboot / Reset


@pytest.mark.parametrize("action,events,final", [
    ("destroy", [("shutdown", "finished"), ("stopped", "shutdown")], ("shutoff", "shutdown")),
    ("restart", [("shutdown", "finished"), ("stopped", "shutdown"), ("started", "booted")],
     ("running", "booted")),
    ("preserve", [("shutdown", "finished")], ("shutdown", "user")),
])
def test_shutdown(c, rec, action, events, final):
    d = c.define(domain_xml(f"sd-{action}", on_poweroff=action))
    d.start()
    rec.clear()
    d.shutdown()
    rec.wait_events(d.path, events)
    wait_until(lambda: state_of(d) == final, what=f"state {final}")
    pump(0.2)
    assert rec.domain_events(d.path) == events
    assert assert_state_precedes_events(rec, d.path, "running") == len(events)
    if action == "preserve":
        assert d.id >= 0
        d.destroy()
        rec.wait_events(d.path, [("stopped", "destroyed")])
    if action == "restart":
        d.destroy()
    if action == "destroy":
        assert d.id == -1


def test_shutdown_requires_running(c):
    d = define(c, "sdoff")
    assert_error(d.call_error("Shutdown", "t", (0,)), E_INVALID_STATE, "shutoff")
    d.start(F.START_PAUSED)
    assert_error(d.call_error("Shutdown", "t", (0,)), E_INVALID_STATE, "paused")
    d.destroy()


def test_shutdown_transient_vanishes(c, rec):
    d = c.create(domain_xml("sdt"))
    d.shutdown()
    rec.wait_removed(d.path)
    assert rec.domain_events(d.path)[-2:] == [("shutdown", "finished"), ("stopped", "shutdown")]
    assert c.list_domains() == []


def test_reboot_restart(c, rec):
    d = define(c, "rb")
    d.start()
    id_before = d.id
    rec.clear()
    d.reboot()
    pump(0.5)
    assert state_of(d) == ("running", "booted")
    assert rec.domain_events(d.path) == []
    assert d.id == id_before


def test_reboot_destroy(c, rec):
    d = c.define(domain_xml("rbd", on_reboot="destroy"))
    d.start()
    rec.clear()
    d.reboot()
    rec.wait_events(d.path, [("stopped", "shutdown")])
    wait_until(lambda: state_of(d) == ("shutoff", "shutdown"), what="shutoff/shutdown")


def test_reboot_refused(c):
    t = c.create(domain_xml("rbt"))
    err = assert_error(t.call_error("Reboot", "t", (0,)), E_INVALID_STATE)
    assert "transient" in err.message.lower() or "persistent" in err.message.lower()
    assert state_of(t) == ("running", "booted")
    t.destroy()
    d = define(c, "rboff")
    assert_error(d.call_error("Reboot", "t", (0,)), E_INVALID_STATE, "shutoff")


def test_reset(c, rec):
    d = define(c, "reset")
    assert_error(d.call_error("Reset", "t", (0,)), E_INVALID_STATE, "shutoff")
    d.start()
    rec.clear()
    d.reset()
    assert state_of(d) == ("running", "booted")
    d.suspend()
    d.reset()
    assert d.state == "paused"
    pump(0.1)
    assert rec.domain_events(d.path) == [("suspended", "paused")]
    d.destroy()


# ---------------------------------------------------------------------------
# Undefine


def test_undefine_inactive(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("und", uuid=u))
    assert env.config_file(u).exists()
    rec.clear()
    p = d.call_async("Undefine", "t", (0,), recorder=rec)
    p.ok()
    evs = rec.snapshot()
    i_ev = next(i for i, e in enumerate(evs) if e.kind == "event" and e.path == d.path)
    i_rm = next(i for i, e in enumerate(evs) if e.kind == "removed" and e.path == d.path)
    i_reply = next(i for i, e in enumerate(evs) if e.kind == "reply")
    assert (evs[i_ev].event, evs[i_ev].detail) == ("undefined", "removed")
    assert i_ev < i_rm < i_reply, evs
    assert not env.config_file(u).exists()
    assert c.list_domains() == []


def test_undefine_active_becomes_transient(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("unda", uuid=u))
    d.start()
    d.undefine()
    rec.wait_events(d.path, [("undefined", "removed")])
    assert d.prop("Persistent") is False
    assert state_of(d) == ("running", "booted")
    assert not env.config_file(u).exists()
    d.destroy()
    rec.wait_removed(d.path)
    assert c.list_domains() == []


def test_undefine_transient_refused(c):
    t = c.create(domain_xml("undt"))
    assert_error(t.call_error("Undefine", "t", (0,)), E_INVALID_STATE)
    assert t.prop("Persistent") is False
    t.destroy()


def test_undefine_flags(env, c):
    u = new_uuid()
    d = c.define(domain_xml("undf", uuid=u))
    assert_error(d.call_error("Undefine", "t", (F.UNDEFINE_WIPE_STORAGE,)), E_INVALID_ARGUMENT,
                 "REMOVE_STORAGE")
    assert_error(d.call_error("Undefine", "t", (16,)), E_INVALID_ARGUMENT)
    assert_error(d.call_error("Undefine", "t", (F.UNKNOWN,)), E_INVALID_ARGUMENT)
    assert d.exists() and env.config_file(u).exists()
    d.undefine(F.UNDEFINE_NVRAM)
    assert not d.exists()
    d = c.define(domain_xml("undf2"))
    d.undefine(F.UNDEFINE_KEEP_NVRAM | F.UNDEFINE_MANAGED_SAVE | F.UNDEFINE_SNAPSHOTS_METADATA |
               F.UNDEFINE_REMOVE_STORAGE | F.UNDEFINE_WIPE_STORAGE)  # no disks: nothing to remove
    assert not d.exists()


# ---------------------------------------------------------------------------
# Managed save


def test_managed_save_and_start_restores(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("ms", uuid=u))
    d.start()
    rec.clear()
    p = d.call_async("ManagedSave", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "saved", "stopped", "saved")
    assert state_of(d) == ("saved", "saved")
    assert d.prop("HasManagedSave") is True
    assert d.id == -1
    img = env.managed_save_file(u)
    assert img.exists()
    assert img.read_bytes().startswith(b"DomaindSave1")
    assert True in rec.prop_values(d.path, "HasManagedSave")
    rec.clear()
    p = d.call_async("Start", "t", (0,), recorder=rec)
    assert_ordered(rec, d.path, p, "running", "started", "restored")
    assert state_of(d) == ("running", "restored")
    assert d.prop("HasManagedSave") is False
    assert not img.exists()
    d.destroy()
    assert state_of(d) == ("shutoff", "destroyed")


def test_managed_save_paused_restores_paused(env, c, rec):
    d = define(c, "msp")
    d.start(F.START_PAUSED)
    d.managed_save()
    assert d.state == "saved"
    rec.clear()
    d.start()
    assert d.state == "paused"
    assert rec.domain_events(d.path)[0] == ("started", "restored")
    d.destroy()


def test_managed_save_force_boot(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("msf", uuid=u))
    d.start()
    d.managed_save()
    rec.clear()
    d.start(F.START_FORCE_BOOT)
    assert state_of(d) == ("running", "booted")
    assert rec.domain_events(d.path) == [("started", "booted")]
    assert d.prop("HasManagedSave") is False
    assert not env.managed_save_file(u).exists()
    d.destroy()


def test_managed_save_remove(env, c):
    u = new_uuid()
    d = c.define(domain_xml("msr", uuid=u))
    d.managed_save_remove()  # no image: no-op
    d.start()
    d.managed_save()
    assert env.managed_save_file(u).exists()
    d.managed_save_remove()
    assert not env.managed_save_file(u).exists()
    assert d.prop("HasManagedSave") is False
    assert d.state == "shutoff"
    d.start()
    assert state_of(d) == ("running", "booted")
    d.destroy()


def test_managed_save_refused(c):
    d = define(c, "msx")
    assert_error(d.call_error("ManagedSave", "t", (0,)), E_INVALID_STATE, "shutoff")
    t = c.create(domain_xml("mst"))
    assert_error(t.call_error("ManagedSave", "t", (0,)), E_INVALID_STATE)
    assert state_of(t) == ("running", "booted")
    t.destroy()


def test_undefine_with_managed_save(env, c):
    u = new_uuid()
    d = c.define(domain_xml("undms", uuid=u))
    d.start()
    d.managed_save()
    assert_error(d.call_error("Undefine", "t", (0,)), E_INVALID_STATE)
    assert d.exists() and env.managed_save_file(u).exists()
    d.undefine(F.UNDEFINE_MANAGED_SAVE)
    assert not d.exists()
    assert not env.managed_save_file(u).exists()
    assert not env.config_file(u).exists()


# ---------------------------------------------------------------------------
# Save / Restore


def test_save_restore(env, c, rec, tmp_path):
    u = new_uuid()
    d = c.define(domain_xml("sv", uuid=u))
    d.start()
    f = tmp_path / "sv.save"
    rec.clear()
    p = d.call_async("Save", "sst", (str(f), "", 0), recorder=rec)
    assert_ordered(rec, d.path, p, "shutoff", "stopped", "saved")
    assert state_of(d) == ("shutoff", "saved")
    assert d.id == -1
    assert f.read_bytes().startswith(b"DomaindSave1")
    assert sorted(os.listdir(tmp_path)) == ["sv.save"], "temp files left next to the image"
    rec.clear()
    p = c.call_async(TEST_HV_PATH, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)",
                     recorder=rec)
    assert_ordered(rec, d.path, p, "running", "started", "restored")
    assert p.result == d.path
    assert state_of(d) == ("running", "restored")
    assert d.prop("Persistent") is True
    assert d.id >= 0
    # restoring again while it runs
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)"),
                 E_INVALID_STATE, "running")
    d.destroy()


def test_save_restore_paused_and_flags(env, c, rec, tmp_path):
    d = define(c, "svp")
    d.start(F.START_PAUSED)
    f = tmp_path / "svp.save"
    d.save(f)
    assert state_of(d) == ("shutoff", "saved")
    rec.clear()
    c.restore(str(f))
    assert d.state == "paused"
    assert rec.domain_events(d.path) == [("started", "restored"), ("suspended", "restored")]
    assert assert_state_precedes_events(rec, d.path, "shutoff") == 2
    d.destroy()
    c.restore(str(f), flags=F.SAVE_RUNNING)
    assert state_of(d) == ("running", "restored")
    d.save(f)
    c.restore(str(f), flags=F.SAVE_PAUSED)
    assert d.state == "paused"
    d.destroy()
    # the flags at save time choose the state to restore into
    d.start()
    d.save(f, flags=F.SAVE_PAUSED)
    c.restore(str(f))
    assert d.state == "paused"
    d.destroy()


def test_save_transient_then_restore(env, c, rec, tmp_path):
    u = new_uuid()
    d = c.create(domain_xml("svt", uuid=u))
    f = tmp_path / "svt.save"
    d.save(f)
    rec.wait_removed(d.path)
    assert c.list_domains() == []
    d2 = c.restore(str(f))
    assert d2.path == d.path
    assert d2.prop("Persistent") is False
    assert d2.name == "svt" and d2.uuid == u
    assert state_of(d2) == ("running", "restored")
    d2.destroy()


def test_restore_with_xml(env, c, tmp_path):
    u = new_uuid()
    d = c.define(domain_xml("svx", uuid=u, memory_kib=131072))
    d.start()
    f = tmp_path / "svx.save"
    d.save(f)
    c.restore(str(f), domain_xml("svx", uuid=u, memory_kib=131072,
                                 description="changed at restore"))
    assert "changed at restore" in d.xml()
    d.destroy()


def test_save_refused(env, c, tmp_path):
    d = define(c, "svr")
    f = tmp_path / "x.save"
    assert_error(d.call_error("Save", "sst", (str(f), "", 0)), E_INVALID_STATE, "shutoff")
    d.start()
    assert_error(d.call_error("Save", "sst", ("relative.save", "", 0)), E_INVALID_ARGUMENT)
    assert_error(d.call_error("Save", "sst", (str(tmp_path), "", 0)), E_INVALID_ARGUMENT)
    assert_error(d.call_error("Save", "sst", (str(f), "", F.UNKNOWN)), E_INVALID_ARGUMENT)
    assert_error(d.call_error("Save", "sst", (str(f), "", F.SAVE_RUNNING | F.SAVE_PAUSED)),
                 E_INVALID_ARGUMENT)
    assert state_of(d) == ("running", "booted")
    assert not f.exists()
    assert sorted(os.listdir(tmp_path)) == []
    d.destroy()


def test_restore_refused(env, c, tmp_path):
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "Restore", "sst", ("rel.save", "", 0),
                              "(o)"), E_INVALID_ARGUMENT)
    junk = tmp_path / "junk.save"
    junk.write_bytes(b"this is not a save image\n")
    e = c.call_error(TEST_HV_PATH, HV_IFACE, "Restore", "sst", (str(junk), "", 0), "(o)")
    assert e.name.startswith("org.domaind1.Error."), e
    missing = tmp_path / "missing.save"
    e = c.call_error(TEST_HV_PATH, HV_IFACE, "Restore", "sst", (str(missing), "", 0), "(o)")
    assert e.name.startswith("org.domaind1.Error."), e
    assert c.list_domains() == []


# ---------------------------------------------------------------------------
# Autostart


def test_autostart_property(env, c, rec):
    u = new_uuid()
    d = c.define(domain_xml("auto", uuid=u))
    link = env.autostart_link(u)
    assert not os.path.lexists(link)
    d.set_autostart(True)
    assert d.prop("Autostart") is True
    assert os.path.islink(link)
    assert os.path.realpath(link) == os.path.realpath(env.config_file(u))
    rec.wait_prop(d.path, "Autostart", True)
    d.set_autostart(False)
    assert d.prop("Autostart") is False
    assert not os.path.lexists(link)
    rec.wait_prop(d.path, "Autostart", False)
    t = c.create(domain_xml("autot"))
    e = c.call_error(t.path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                     (DOMAIN_IFACE, "Autostart", GLib.Variant("b", True)))
    assert e.name == E_INVALID_STATE, e
    assert t.prop("Autostart") is False
    t.destroy()
    # undefine drops the mark
    d.set_autostart(True)
    d.undefine()
    assert not os.path.lexists(link)


# ---------------------------------------------------------------------------
# AUTODESTROY


def test_create_autodestroy(env, c, rec):
    c2 = env.client()
    d = c2.create(domain_xml("ad"), F.CREATE_AUTODESTROY)
    d1 = d.on(c)
    assert d1.state == "running"
    pump(0.2)
    assert d1.exists(), "destroyed while its creator is still connected"
    c2.close()
    rec.wait_removed(d.path)
    assert ("stopped", "destroyed") in rec.domain_events(d.path)
    assert c.list_domains() == []


def test_start_autodestroy(env, c, rec):
    d = define(c, "ads")
    c2 = env.client()
    d.on(c2).start(F.START_AUTODESTROY)
    assert d.state == "running"
    c2.close()
    wait_until(lambda: d.state == "shutoff", what="autodestroy")
    assert state_of(d) == ("shutoff", "destroyed")
    assert d.exists()
    # a plain start is not autodestroyed when another client leaves
    c3 = env.client()
    d.on(c3).start()
    c3.close()
    pump(0.5)
    assert d.state == "running"
    d.destroy()


# ---------------------------------------------------------------------------
# Guest-side events through the test plugin's hooks


@pytest.mark.parametrize("action,events,final", [
    ("destroy", [("shutdown", "finished"), ("stopped", "shutdown")], ("shutoff", "shutdown")),
    ("restart", [("shutdown", "finished"), ("stopped", "shutdown"), ("started", "booted")],
     ("running", "booted")),
    ("preserve", [("shutdown", "finished")], ("shutdown", "user")),
])
def test_guest_poweroff(env, c, rec, action, events, final):
    d = c.define(domain_xml(f"gp-{action}", on_poweroff=action))
    d.start()
    rec.clear()
    env.hook(d.uuid, "shutdown")
    rec.wait_events(d.path, events)
    wait_until(lambda: state_of(d) == final, what=f"{final}")
    pump(0.2)
    assert rec.domain_events(d.path) == events
    assert assert_state_precedes_events(rec, d.path, "running") == len(events)
    if d.state != "shutoff":
        d.destroy()


@pytest.mark.parametrize("action,events,final", [
    ("restart", [], ("running", "booted")),
    ("destroy", [("stopped", "shutdown")], ("shutoff", "shutdown")),
])
def test_guest_reboot(env, c, rec, action, events, final):
    d = c.define(domain_xml(f"gr-{action}", on_reboot=action))
    d.start()
    rec.clear()
    env.hook(d.uuid, "reboot")
    if events:
        rec.wait_events(d.path, events)
    else:
        pump(1.0)
    assert state_of(d) == final
    assert rec.domain_events(d.path) == events
    assert assert_state_precedes_events(rec, d.path, "running") == len(events)
    if d.state != "shutoff":
        d.destroy()


@pytest.mark.parametrize("action,events,final", [
    ("destroy", [("crashed", "panicked"), ("stopped", "crashed")], ("shutoff", "crashed")),
    ("restart", [("crashed", "panicked"), ("stopped", "crashed"), ("started", "booted")],
     ("running", "booted")),
    ("preserve", [("crashed", "panicked")], ("crashed", "panicked")),
])
def test_guest_crash(env, c, rec, action, events, final):
    d = c.define(domain_xml(f"gc-{action}", on_crash=action))
    d.start()
    rec.clear()
    env.hook(d.uuid, "crash")
    rec.wait_events(d.path, events)
    wait_until(lambda: state_of(d) == final, what=f"{final}")
    pump(0.2)
    assert rec.domain_events(d.path) == events
    assert assert_state_precedes_events(rec, d.path, "running") == len(events)
    if d.state != "shutoff":
        d.destroy()
        assert state_of(d) == ("shutoff", "destroyed")


def test_guest_pause_ioerror(env, c, rec):
    d = define(c, "ioerr")
    d.start()
    rec.clear()
    env.hook(d.uuid, "pause-ioerror")
    rec.wait_events(d.path, [("suspended", "ioerror")])
    assert state_of(d) == ("paused", "ioerror")
    assert assert_state_precedes_events(rec, d.path, "running") == 1
    d.resume()
    assert state_of(d) == ("running", "unpaused")
    d.destroy()


def test_guest_gone(env, c, rec):
    d = define(c, "gone")
    d.start()
    rec.clear()
    env.hook(d.uuid, "gone")
    wait_until(lambda: d.state == "shutoff", what="shutoff after gone")
    evs = rec.domain_events(d.path)
    assert len(evs) == 1 and evs[0][0] == "stopped", evs
    assert evs[0][1] in ("crashed", "failed", "shutdown", "destroyed")
    assert d.reason == evs[0][1]
    assert d.id == -1
    assert assert_state_precedes_events(rec, d.path, "running") == 1
    # a transient one vanishes
    t = c.create(domain_xml("gonet"))
    env.hook(t.uuid, "gone")
    rec.wait_removed(t.path)
    assert c.list_domains() == [d.path]


def test_hypervisor_failure(env, c, rec):
    d = define(c, "fail")
    env.hook(d.uuid, "fail start the emulator caught fire")
    err = assert_error(d.call_error("Start", "t", (0,)), E_HYPERVISOR_FAILED,
                       "the emulator caught fire")
    assert state_of(d) == ("shutoff", "unknown")
    assert rec.domain_events(d.path) == [("defined", "added")]
    d.start()  # only the next one failed
    assert d.state == "running"
    env.hook(d.uuid, "fail suspend no pause today")
    assert_error(d.call_error("Suspend"), E_HYPERVISOR_FAILED, "no pause today")
    assert d.state == "running"
    d.destroy()


# ---------------------------------------------------------------------------
# GetXMLDesc, Migrate, OpenConsole, jobs without a job


def test_get_xml_desc(c):
    u = new_uuid()
    secret = "<graphics type='vnc' port='-1' passwd='sekrit'/>"
    d = c.define(domain_xml("xmld", uuid=u, extra=f"<devices>{secret}</devices>"))
    x = ET.fromstring(d.xml())
    assert x.tag == "domain" and x.get("type") == "test"
    assert x.find("name").text == "xmld" and x.find("uuid").text == u
    assert x.get("id") is None
    assert "sekrit" not in d.xml()
    assert "sekrit" in d.xml(F.XML_SECURE)
    d.start()
    live = ET.fromstring(d.xml())
    assert live.get("id") == str(d.id)
    assert ET.fromstring(d.xml(F.XML_INACTIVE)).get("id") is None
    ET.fromstring(d.xml(F.XML_MIGRATABLE))
    assert_error(d.call_error("GetXMLDesc", "t", (F.UNKNOWN,), "(s)"), E_INVALID_ARGUMENT)
    d.destroy()


def test_migrate_and_console_not_supported(c):
    d = define(c, "nosup")
    d.start()
    assert_error(d.call_error("Migrate", "sa{sv}t",
                              ("unix:path=/nonexistent", {}, 1)), E_NOT_SUPPORTED)
    assert_error(d.call_error("OpenConsole", "st", ("", 0), "(h)"), E_NOT_SUPPORTED)
    assert state_of(d) == ("running", "booted")
    d.destroy()


def test_no_job(c):
    d = define(c, "nojob")
    d.start()
    info = d.job_info()
    assert info["type"] == "none"
    assert d.prop("Job") == "none"
    assert_error(d.call_error("AbortJob"), E_INVALID_STATE)
    d.destroy()

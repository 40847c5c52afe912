# SPDX-License-Identifier: LGPL-2.1-or-later
"""domaind restarts (SIGTERM) and crashes (SIGKILL): domains survive."""

import os
import time

import pytest

from harness import F, Recorder, domain_xml, snapshot_xml, new_uuid, state_of, wait_until


def snapshot_all(c):
    """{path: (Name, State, StateReason, Id, Persistent, HasManagedSave, Autostart)}"""
    out = {}
    for p in c.list_domains():
        pr = c.domain(p).props()
        out[p] = (pr["Name"], pr["State"], pr["StateReason"], pr["Id"], pr["Persistent"],
                  pr["HasManagedSave"], pr["Autostart"], pr["Memory"], pr["VCPUs"])
    return out


def fleet(c):
    doms = {}
    doms["running"] = c.define(domain_xml("running"))
    doms["running"].start()
    doms["paused"] = c.define(domain_xml("paused"))
    doms["paused"].start()
    doms["paused"].suspend()
    doms["shutoff"] = c.define(domain_xml("shutoff", vcpus=2))
    doms["transient"] = c.create(domain_xml("transient"))
    doms["tpaused"] = c.create(domain_xml("tpaused"), F.CREATE_START_PAUSED)
    doms["saved"] = c.define(domain_xml("saved"))
    doms["saved"].start()
    doms["saved"].managed_save()
    return doms


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_domains_survive(env, c, how):
    doms = fleet(c)
    before = snapshot_all(c)
    assert before[doms["running"].path][1:3] == ("running", "booted")
    assert before[doms["paused"].path][1:3] == ("paused", "user")
    if how == "sigterm":
        env.restart()
    else:
        env.crash_restart()
    c2 = env.client()
    after = snapshot_all(c2)
    assert after == before
    # the re-attached domains still work
    r = doms["running"].on(c2)
    r.suspend()
    r.resume()
    assert state_of(r) == ("running", "unpaused")
    p = doms["paused"].on(c2)
    p.resume()
    assert p.state == "running"
    t = doms["transient"].on(c2)
    assert t.prop("Persistent") is False
    t.destroy()
    assert t.path not in c2.list_domains()
    s = doms["saved"].on(c2)
    s.start()
    assert state_of(s) == ("running", "restored")
    for k in ("running", "paused", "saved", "tpaused"):
        doms[k].on(c2).destroy()


def test_restart_twice_and_hooks_after_restart(env, c):
    d = c.define(domain_xml("hooked"))
    d.start()
    env.restart()
    env.crash_restart()
    c2 = env.client()
    rec = Recorder(c2)
    d2 = d.on(c2)
    assert d2.state == "running"
    env.hook(d2.uuid, "shutdown")
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")])
    assert state_of(d2) == ("shutoff", "shutdown")


def test_only_listed_domains_are_reattached(env, c):
    """After a restart domaind re-attaches the domains its runtime status
    lists: without a status file a transient domain is gone and a
    persistent one is inactive."""
    t = c.create(domain_xml("t"))
    p = c.define(domain_xml("p"))
    p.start()
    keep = c.create(domain_xml("keep"))
    tu, pu = t.uuid, p.uuid
    env.stop()
    env.status_file(tu).unlink()
    env.status_file(pu).unlink()
    env.start()
    c2 = env.client()
    assert c2.list_domains() == sorted([p.path, keep.path])
    assert p.on(c2).state == "shutoff"
    assert p.on(c2).id == -1
    assert keep.on(c2).state == "running"
    keep.on(c2).destroy()


def test_autostart_at_daemon_start(env, c):
    a = c.define(domain_xml("auto"))
    a.set_autostart(True)
    n = c.define(domain_xml("noauto"))
    assert a.state == "shutoff"
    env.restart()
    c2 = env.client()
    wait_until(lambda: a.on(c2).state == "running", what="autostart domain running")
    assert state_of(a.on(c2)) == ("running", "booted")
    assert n.on(c2).state == "shutoff"
    # an autostart domain that is already running is left alone
    id_before = a.on(c2).id
    env.restart()
    c3 = env.client()
    assert a.on(c3).id == id_before
    a.on(c3).destroy()


def test_snapshots_and_managed_save_survive(env, c):
    u = new_uuid()
    d = c.define(domain_xml("snaps", uuid=u))
    d.start()
    s1 = d.snapshot(snapshot_xml("one", "first"))
    s2 = d.snapshot(snapshot_xml("two"))
    before = {s.path: s.props() for s in (s1, s2)}
    cur = d.prop("CurrentSnapshot")
    d.managed_save()
    env.crash_restart()
    c2 = env.client()
    d2 = d.on(c2)
    assert d2.snapshots() == sorted([s1.path, s2.path])
    assert {p: c2.get_all(p, "org.domaind1.Snapshot") for p in before} == before
    assert d2.prop("CurrentSnapshot") == cur
    assert d2.state == "saved" and d2.prop("HasManagedSave") is True
    d2.start()
    assert state_of(d2) == ("running", "restored")
    d2.destroy()


def test_restore_after_restart(env, c, tmp_path):
    d = c.define(domain_xml("rar"))
    d.start()
    f = tmp_path / "rar.save"
    d.save(f)
    env.restart()
    c2 = env.client()
    d2 = c2.restore(str(f))
    assert d2.path == d.path
    assert state_of(d2) == ("running", "restored")
    d2.destroy()


def test_name_owner_changes_on_restart(env, c):
    old = c.name_owner()
    env.restart()
    new = c.name_owner()
    assert new != old


def test_sigterm_during_job(env, c, tmp_path):
    """A clean shutdown while a job runs: domaind still exits 0 at once, the
    caller gets an answer (not a hang), and the domain is consistent after
    the restart."""
    d = c.define(domain_xml("midjob"))
    d.start()
    env.hook(d.uuid, "delay 5000")
    f = tmp_path / "midjob.save"
    save = d.call_async("Save", "sst", (str(f), "", 0))
    wait_until(lambda: d.prop("Job") == "saving", 2.0, "Job saving")
    t = time.monotonic()
    env.stop(timeout=10)
    assert time.monotonic() - t < 4.0, "shutdown waited for the job to finish"
    save.wait(5)
    env.start()
    c2 = env.client()
    d2 = d.on(c2)
    st = state_of(d2)
    assert st in (("running", "booted"), ("shutoff", "saved")), st
    assert d2.prop("Job") == "none"
    if st[0] == "running":
        # the save did not happen: no image, no temp file
        assert os.listdir(tmp_path) == []


def test_cputime_survives_restart(env, c):
    d = c.define(domain_xml("cpu"))
    d.start()
    time.sleep(0.2)
    before = d.prop("CPUTime")
    assert before > 0
    env.restart()
    assert d.on(env.client()).prop("CPUTime") >= before

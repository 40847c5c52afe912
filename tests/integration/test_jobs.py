# SPDX-License-Identifier: LGPL-2.1-or-later
"""Jobs: Busy after JobWaitTimeoutSec (1 s here), queued calls, AbortJob,
GetJobInfo, and a loop that never blocks."""

import os
import time

from harness import (F, TEST_HV_PATH, HV_IFACE, E_BUSY, E_HYPERVISOR_FAILED, E_INVALID_STATE,
                     domain_xml, snapshot_xml, new_uuid, state_of, assert_error, wait_until,
                     pump)


def delayed(env, c, name, ms, start=True):
    d = c.define(domain_xml(name))
    if start:
        d.start()
    env.hook(d.uuid, f"delay {ms}")
    return d


def wait_job(d, job, timeout=2.0):
    wait_until(lambda: d.prop("Job") == job, timeout, f"Job == {job!r}")


def test_save_job_busy(env, c, rec, tmp_path):
    d = delayed(env, c, "busy", 3000)
    f = tmp_path / "busy.save"
    t0 = time.monotonic()
    save = d.call_async("Save", "sst", (str(f), "", 0), recorder=rec)
    wait_job(d, "saving")
    info = d.job_info()
    assert {"type", "operation", "time-elapsed", "data-processed", "data-total",
            "data-remaining"} <= set(info), info
    assert info["type"] in ("unbounded", "bounded"), info
    assert info["operation"] in ("saving", "save"), info
    e1 = info["time-elapsed"]
    time.sleep(0.3)
    e2 = d.job_info()["time-elapsed"]
    assert e2 >= e1 + 200, (e1, e2)
    # another client's state change waits JobWaitTimeoutSec, then Busy
    c2 = env.client()
    t1 = time.monotonic()
    err = d.on(c2).call_error("Suspend")
    waited = time.monotonic() - t1
    assert_error(err, E_BUSY)
    assert 0.8 <= waited <= 2.5, f"Busy after {waited:.2f}s, JobWaitTimeoutSec=1"
    assert not save.done, "the save finished too early for this test to mean anything"
    save.ok(timeout=10)
    assert time.monotonic() - t0 >= 2.8
    assert state_of(d) == ("shutoff", "saved")
    assert d.prop("Job") == "none"
    assert d.job_info()["type"] == "none"
    assert f.read_bytes().startswith(b"DomaindSave1")
    # Job changes are signalled too, and the job is over before the reply
    assert rec.prop_values(d.path, "Job") == ["saving", "none"]
    evs = rec.snapshot()
    i_none = max(i for i, e in enumerate(evs) if e.kind == "prop" and e.path == d.path
                 and e.changed.get("Job") == "none")
    i_reply = next(i for i, e in enumerate(evs) if e.kind == "reply" and e.pending is save)
    assert i_none < i_reply, evs


def test_queued_call_succeeds(env, c, rec):
    d = delayed(env, c, "queue", 500)
    c2 = env.client()
    t0 = time.monotonic()
    p1 = d.call_async("Suspend", recorder=rec)
    time.sleep(0.05)
    p2 = d.on(c2).call_async("Resume")
    p1.ok()
    p2.ok()
    assert p2.t_done - t0 >= 0.9, "the queued call did not wait for the first job"
    assert state_of(d) == ("running", "unpaused")
    assert rec.domain_events(d.path)[-2:] == [("suspended", "paused"), ("resumed", "unpaused")]


def test_reads_do_not_wait_for_jobs(env, c, tmp_path):
    d = delayed(env, c, "reads", 2000)
    save = d.call_async("Save", "sst", (str(tmp_path / "r.save"), "", 0))
    wait_job(d, "saving")
    c2 = env.client()
    for _ in range(5):
        t = time.monotonic()
        assert d.on(c2).state == "running"
        d.on(c2).xml()
        assert time.monotonic() - t < 0.2
    save.ok()


def test_abort_save(env, c, tmp_path):
    d = delayed(env, c, "abort", 3000)
    f = tmp_path / "abort.save"
    save = d.call_async("Save", "sst", (str(f), "", 0))
    wait_job(d, "saving")
    c2 = env.client()
    t = time.monotonic()
    d.on(c2).abort_job()
    err = save.err(timeout=5)
    assert time.monotonic() - t < 1.5, "AbortJob did not cut the save short"
    assert_error(err, E_HYPERVISOR_FAILED)
    assert state_of(d) == ("running", "booted")
    assert d.prop("Job") == "none"
    assert d.id >= 0
    assert not f.exists()
    assert os.listdir(tmp_path) == [], "temp files of the aborted save left behind"
    assert_error(d.call_error("AbortJob"), E_INVALID_STATE)


def test_abort_managed_save(env, c):
    d = delayed(env, c, "abortms", 3000)
    ms = d.call_async("ManagedSave", "t", (0,))
    wait_job(d, "saving")
    d.on(env.client()).abort_job()
    assert_error(ms.err(), E_HYPERVISOR_FAILED)
    assert state_of(d) == ("running", "booted")
    assert d.prop("HasManagedSave") is False
    assert not env.managed_save_file(d.uuid).exists()
    save_dir = env.managed_save_file(d.uuid).parent
    assert not save_dir.exists() or os.listdir(save_dir) == []


def test_restore_job(env, c, tmp_path):
    d = c.define(domain_xml("rjob"))
    d.start()
    f = tmp_path / "rjob.save"
    d.save(f)
    env.hook(d.uuid, "delay 1500")
    p = c.call_async(TEST_HV_PATH, HV_IFACE, "Restore", "sst", (str(f), "", 0), "(o)")
    wait_job(d, "restoring")
    assert d.job_info()["operation"] in ("restoring", "restore")
    assert p.ok() == d.path
    assert state_of(d) == ("running", "restored")
    assert d.prop("Job") == "none"


def test_snapshot_job_and_abort(env, c):
    d = delayed(env, c, "sjob", 3000)
    p = d.call_async("CreateSnapshot", "st", (snapshot_xml("never"), 0), "(o)")
    wait_job(d, "snapshot")
    d.on(env.client()).abort_job()
    assert_error(p.err(), E_HYPERVISOR_FAILED)
    assert d.snapshots() == []
    assert d.prop("CurrentSnapshot") == "/"
    sdir = env.snapshot_dir(d.uuid)
    assert not sdir.exists() or os.listdir(sdir) == []
    assert d.state == "running"


def test_loop_stays_responsive(env, c):
    d = delayed(env, c, "slow", 2000, start=False)
    other = c.define(domain_xml("other"))
    t0 = time.monotonic()
    start = d.call_async("Start", "t", (0,))
    pump(0.1)
    c2 = env.client()
    worst = 0.0
    n = 0
    while not start.done:
        t = time.monotonic()
        assert d.on(c2).prop("Name") == "slow"
        worst = max(worst, time.monotonic() - t)
        t = time.monotonic()
        assert len(c2.list_domains()) == 2
        worst = max(worst, time.monotonic() - t)
        t = time.monotonic()
        c2.managed_objects()
        worst = max(worst, time.monotonic() - t)
        n += 1
        pump(0.05)
    assert n >= 10, f"only {n} rounds during a 2 s start"
    assert worst < 0.2, f"a read took {worst * 1000:.0f} ms during a delayed Start"
    start.ok()
    assert time.monotonic() - t0 >= 1.9
    assert d.state == "running"
    # another domain is not held by this one's job
    d2 = c.define(domain_xml("slow2"))
    env.hook(d2.uuid, "delay 2000")
    p = d2.call_async("Start", "t", (0,))
    t = time.monotonic()
    other.start()
    assert time.monotonic() - t < 0.5, "one domain's job blocked another domain"
    assert other.state == "running"
    p.ok()
    other.destroy()


def test_busy_from_same_connection(env, c, tmp_path):
    """The job lock is per domain, not per client."""
    d = delayed(env, c, "samec", 3000)
    save = d.call_async("Save", "sst", (str(tmp_path / "s.save"), "", 0))
    wait_job(d, "saving")
    p = d.call_async("Destroy", "t", (0,))
    assert_error(p.err(timeout=5), E_BUSY)
    save.ok(timeout=10)

# SPDX-License-Identifier: LGPL-2.1-or-later
"""domctl, the command-line client, against a real domaind."""

import os
import queue
import re
import signal
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (F, domain_xml, new_uuid, state_of, wait_until, domctl_binary, Recorder)


def ok(env_, *args, **kw):
    r = env_.domctl(*args, **kw)
    assert r.returncode == 0, (f"domctl {' '.join(map(str, args))} failed ({r.returncode})\n"
                               f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r.stdout


def table(out):
    """Parses domctl's table: header, rule of dashes, rows. Columns start
    where the header's titles start (cells may be empty)."""
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) >= 2, out
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", head)]
    header = [head[s:].split("  ")[0].strip() for s in starts]
    assert set(lines[1].strip()) == {"-"}, f"no rule under the header:\n{out}"
    rows = []
    for l in lines[2:]:
        cells = []
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(l)
            cells.append(l[s:end].strip())
        rows.append(cells)
    return header, rows


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_list(env, c, tmp_path):
    a = c.define(domain_xml("alpha"))
    b = c.define(domain_xml("bravo"))
    b.start()
    t = c.create(domain_xml("tango"))
    header, rows = table(ok(env, "list"))
    assert header == ["Id", "Name", "State"]
    got = {r[1]: r for r in rows}
    assert set(got) == {"bravo", "tango"}
    assert got["bravo"] == [str(b.id), "bravo", "running"]
    assert got["tango"][2] == "running"
    header, rows = table(ok(env, "list", "--all"))
    got = {r[1]: r for r in rows}
    assert set(got) == {"alpha", "bravo", "tango"}
    assert got["alpha"] == ["-", "alpha", "shut off"]
    # running ones first
    assert [r[1] for r in rows][-1] == "alpha"
    header, rows = table(ok(env, "list", "--inactive"))
    assert [r[1] for r in rows] == ["alpha"]
    assert sorted(ok(env, "list", "--all", "--name").split()) == ["alpha", "bravo", "tango"]
    assert set(ok(env, "list", "--all", "--uuid").split()) == {a.uuid, b.uuid, t.uuid}
    b.suspend()
    got = {r[1]: r for r in table(ok(env, "list"))[1]}
    assert got["bravo"][2] == "paused"
    b.destroy()
    t.destroy()


def test_define_create_undefine(env, c, tmp_path):
    u = new_uuid()
    f = write(tmp_path, "d.xml", domain_xml("fromfile", uuid=u))
    out = ok(env, "define", f)
    assert "fromfile" in out and "defined" in out
    d = c.lookup("fromfile")
    assert d.uuid == u and d.state == "shutoff"
    assert env.config_file(u).exists()
    g = write(tmp_path, "t.xml", domain_xml("transient1"))
    out = ok(env, "create", g)
    assert "transient1" in out and "created" in out
    t = c.lookup("transient1")
    assert t.state == "running" and t.prop("Persistent") is False
    out = ok(env, "undefine", "fromfile")
    assert "fromfile" in out
    assert not d.exists() and not env.config_file(u).exists()
    # define from stdin
    ok(env, "define", "-", input=domain_xml("stdin"))
    assert c.lookup("stdin").state == "shutoff"
    t.destroy()


def test_lifecycle_verbs(env, c, rec):
    d = c.define(domain_xml("life"))
    ok(env, "start", "life")
    assert state_of(d) == ("running", "booted")
    ok(env, "suspend", "life")
    assert state_of(d) == ("paused", "user")
    ok(env, "resume", d.uuid)
    assert state_of(d) == ("running", "unpaused")
    ok(env, "reset", str(d.id))
    assert d.state == "running"
    ok(env, "shutdown", "life")
    wait_until(lambda: d.state == "shutoff", what="shut off after domctl shutdown")
    assert d.reason == "shutdown"
    ok(env, "start", "--paused", "life")
    assert d.state == "paused"
    ok(env, "destroy", "life")
    assert state_of(d) == ("shutoff", "destroyed")
    assert rec.domain_events(d.path) == [
        ("defined", "added"), ("started", "booted"), ("suspended", "paused"),
        ("resumed", "unpaused"), ("shutdown", "finished"), ("stopped", "shutdown"),
        ("started", "booted"), ("suspended", "paused"), ("stopped", "destroyed")]


def test_dumpxml_dominfo_domstate(env, c):
    u = new_uuid()
    d = c.define(domain_xml("info", uuid=u, memory_kib=262144, current_kib=131072, vcpus=2))
    x = ET.fromstring(ok(env, "dumpxml", "info"))
    assert x.find("name").text == "info" and x.find("uuid").text == u
    assert ok(env, "domstate", "info").strip() == "shut off"
    assert ok(env, "domstate", "--reason", "info").strip() == "shut off (unknown)"
    d.start()
    assert ok(env, "domstate", "--reason", "info").strip() == "running (booted)"
    x = ET.fromstring(ok(env, "dumpxml", "info"))
    assert x.get("id") == str(d.id)
    assert ET.fromstring(ok(env, "dumpxml", "--inactive", "info")).get("id") is None
    info = {}
    for line in ok(env, "dominfo", "info").splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    assert info["Name"] == "info"
    assert info["UUID"] == u
    assert info["Id"] == str(d.id)
    assert info["State"] == "running"
    assert info["CPU(s)"] == "2"
    assert info["Max memory"] == "262144 KiB"
    assert info["Used memory"] == "131072 KiB"
    assert info["Persistent"] == "yes"
    assert info["Autostart"] == "disable"
    assert ok(env, "domid", "info").strip() == str(d.id)
    assert ok(env, "domuuid", "info").strip() == u
    assert ok(env, "domname", u).strip() == "info"
    d.destroy()
    assert ok(env, "domstate", "--reason", "info").strip() == "shut off (destroyed)"


def test_autostart(env, c):
    u = new_uuid()
    d = c.define(domain_xml("auto", uuid=u))
    ok(env, "autostart", "auto")
    assert d.prop("Autostart") is True
    assert os.path.islink(env.autostart_link(u))
    ok(env, "autostart", "--disable", "auto")
    assert d.prop("Autostart") is False
    assert not os.path.lexists(env.autostart_link(u))
    header, rows = table(ok(env, "list", "--all", "--autostart"))
    assert rows == []


def test_save_restore_managedsave(env, c, tmp_path):
    d = c.define(domain_xml("sv"))
    d.start()
    f = tmp_path / "sv.save"
    ok(env, "save", "sv", f)
    assert f.read_bytes().startswith(b"DomaindSave1")
    assert ok(env, "domstate", "--reason", "sv").strip() == "shut off (saved)"
    ok(env, "restore", f)
    assert state_of(d) == ("running", "restored")
    ok(env, "managedsave", "sv")
    assert ok(env, "domstate", "--reason", "sv").strip() == "saved (saved)"
    assert d.prop("HasManagedSave") is True
    header, rows = table(ok(env, "list", "--all", "--with-managed-save"))
    assert [r[1] for r in rows] == ["sv"]
    ok(env, "start", "sv")
    assert ok(env, "domstate", "--reason", "sv").strip() == "running (restored)"
    ok(env, "managedsave", "sv")
    ok(env, "managedsave-remove", "sv")
    assert d.prop("HasManagedSave") is False
    ok(env, "start", "sv")
    assert state_of(d) == ("running", "booted")
    d.destroy()


def test_snapshots(env, c):
    d = c.define(domain_xml("snap"))
    d.start()
    out = ok(env, "snapshot-create-as", "snap", "first", "the first one")
    assert "first" in out
    d.suspend()
    ok(env, "snapshot-create-as", "snap", "second")
    header, rows = table(ok(env, "snapshot-list", "snap"))
    assert header == ["Name", "Creation Time", "State"]
    got = {r[0]: r for r in rows}
    assert set(got) == {"first", "second"}
    assert got["first"][2] == "running" and got["second"][2] == "paused"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", got["first"][1]), got["first"]
    header, rows = table(ok(env, "snapshot-list", "snap", "--parent"))
    assert header == ["Name", "Creation Time", "State", "Parent"]
    assert {r[0]: r[3] for r in rows if len(r) == 4}.get("second") == "first"
    snaps = {c.get(p, "org.domaind1.Snapshot", "Name"): p for p in d.snapshots()}
    assert c.get(snaps["first"], "org.domaind1.Snapshot", "Description") == "the first one"
    ok(env, "snapshot-revert", "snap", "first")
    assert state_of(d) == ("running", "from-snapshot")
    assert d.prop("CurrentSnapshot") == snaps["first"]
    ok(env, "snapshot-delete", "snap", "second")
    header, rows = table(ok(env, "snapshot-list", "snap"))
    assert [r[0] for r in rows] == ["first"]
    ok(env, "snapshot-delete", "snap", "--current")
    assert d.snapshots() == []
    d.destroy()


EDIT_SCRIPT = """\
import re, sys
path = sys.argv[-1]
text = open(path).read()
text, n = re.subn(r"<memory( [^>]*)?>\\d+</memory>", "<memory unit='KiB'>524288</memory>", text)
assert n == 1, text
text = re.sub(r"<currentMemory( [^>]*)?>\\d+</currentMemory>",
              "<currentMemory unit='KiB'>524288</currentMemory>", text)
open(path, "w").write(text)
"""


def test_edit(env, c, tmp_path):
    u = new_uuid()
    d = c.define(domain_xml("ed", uuid=u, memory_kib=131072))
    script = write(tmp_path, "edit.py", EDIT_SCRIPT)
    # sanity: the script edits the canonical XML domaind hands out
    assert re.search(r"<memory( [^>]*)?>131072</memory>", d.xml(F.XML_INACTIVE))
    out = ok(env, "edit", "ed", env={"EDITOR": f"/usr/bin/python3 {script}", "VISUAL": ""})
    assert "edited" in out
    assert d.prop("MaxMemory") == 524288
    assert "524288" in env.config_file(u).read_text()
    out = ok(env, "edit", "ed", env={"EDITOR": "true", "VISUAL": ""})
    assert "not changed" in out
    assert d.prop("MaxMemory") == 524288


class LineReader:
    def __init__(self, proc):
        self.q = queue.Queue()
        self.lines = []
        self.t = threading.Thread(target=self._run, args=(proc.stdout,), daemon=True)
        self.t.start()

    def _run(self, f):
        for line in f:
            self.q.put(line.rstrip("\n"))

    def collect(self):
        while True:
            try:
                self.lines.append(self.q.get_nowait())
            except queue.Empty:
                return self.lines

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(l) for l in self.collect()):
                return True
            time.sleep(0.02)
        return False


def test_event_loop(env, c):
    p = env.spawn([str(domctl_binary()), "--bus", env.address, "event", "--loop"])
    reader = LineReader(p)
    # the subscription is in place once a probe's event shows up
    for i in range(50):
        probe = c.define(domain_xml(f"probe{i}"))
        if reader.wait_for(lambda l: f"'probe{i}'" in l, 0.3):
            break
        probe.undefine()
    else:
        pytest.fail(f"domctl event printed nothing: {reader.collect()}")
    reader.lines.clear()
    d = c.define(domain_xml("ev"))
    d.start()
    d.suspend()
    d.resume()
    d.destroy()
    d.undefine()
    expected = ["defined added", "started booted", "suspended paused", "resumed unpaused",
                "stopped destroyed", "undefined removed"]
    assert reader.wait_for(lambda l: l.endswith("undefined removed") and "'ev'" in l), \
        reader.collect()
    got = [l for l in reader.collect() if "'ev'" in l]
    assert got == [f"event 'lifecycle' for domain 'ev': {e}" for e in expected], got
    p.send_signal(signal.SIGINT)
    assert p.wait(5) == 0


def test_create_autodestroy(env, c, tmp_path):
    f = write(tmp_path, "ad.xml", domain_xml("adx"))
    p = env.spawn([str(domctl_binary()), "--bus", env.address, "--hypervisor", "test", "create", "--autodestroy",
                   str(f)])
    wait_until(lambda: any(c.domain(x).name == "adx" for x in c.list_domains()),
               what="autodestroy domain created")
    d = c.lookup("adx")
    assert d.state == "running"
    time.sleep(0.3)
    assert p.poll() is None, "domctl create --autodestroy must wait"
    p.send_signal(signal.SIGTERM)
    p.wait(5)
    wait_until(lambda: d.path not in c.list_domains(), what="domain destroyed with domctl")


def test_errors(env, c, tmp_path):
    r = env.domctl("start", "no-such-domain")
    assert r.returncode == 1, r
    assert r.stderr.startswith("error: "), r.stderr
    assert "no-such-domain" in r.stderr
    assert r.stdout == ""
    d = c.define(domain_xml("err"))
    r = env.domctl("suspend", "err")
    assert r.returncode == 1
    assert "shutoff" in r.stderr or "shut off" in r.stderr, r.stderr
    bad = write(tmp_path, "bad.xml", "<domain type='test'><name>x</name><memory>lots</memory></domain>")
    r = env.domctl("define", bad)
    assert r.returncode == 1 and "memory" in r.stderr, r.stderr
    r = env.domctl("frobnicate")
    assert r.returncode == 2, r
    r = env.domctl("list", "--bogus-option")
    assert r.returncode == 2, r
    assert c.list_domains() == [d.path]


def test_console_help_and_unsupported(env, c):
    """The console verb's help documents how a session ends; the test
    hypervisor has no consoles (the kvm tests use real ones)."""
    out = ok(env, "help", "console")
    assert "console <domain> [--devname <string>]" in out
    assert "Ctrl-]" in out and "</dev/null" in out and "SIGTERM" in out
    assert "console" in ok(env, "help")
    d = c.define(domain_xml("noconsole"))
    d.start()
    r = env.domctl("console", "noconsole", input="")
    assert r.returncode == 1, r
    assert r.stderr.startswith("error: ") and "console" in r.stderr, r.stderr
    assert "Connected" not in r.stderr
    assert r.stdout == ""
    d.destroy()

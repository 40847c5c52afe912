# SPDX-License-Identifier: LGPL-2.1-or-later
"""Files domaind keeps: persistent configs, runtime status, atomic writes."""

import os
import xml.etree.ElementTree as ET

from harness import F, domain_xml, new_uuid, state_of


def only_final_files(folder, suffix):
    """Every entry of folder is a final <uuid><suffix> file (no temp files)."""
    names = sorted(n for n in os.listdir(folder) if not os.path.isdir(os.path.join(folder, n)))
    bad = [n for n in names if not n.endswith(suffix) or n.startswith(".")]
    assert not bad, f"left-over files in {folder}: {bad}"
    return names


def test_config_written(env, c):
    u = new_uuid()
    d = c.define(domain_xml("cfg", uuid=u, memory_kib=262144, vcpus=2))
    f = env.config_file(u)
    assert f.is_file()
    x = ET.fromstring(f.read_text())
    assert x.tag == "domain" and x.get("type") == "test"
    assert x.find("name").text == "cfg"
    assert x.find("uuid").text == u
    assert x.get("id") is None, "persistent config must not carry the live id"
    assert only_final_files(f.parent, ".xml") == [f"{u}.xml"]
    # normalized: the config equals the inactive XML
    assert ET.tostring(ET.fromstring(d.xml(F.XML_INACTIVE | F.XML_SECURE))) == ET.tostring(x)


def test_config_update_is_atomic(env, c):
    u = new_uuid()
    c.define(domain_xml("atom", uuid=u, memory_kib=131072))
    f = env.config_file(u)
    ino = f.stat().st_ino
    c.define(domain_xml("atom", uuid=u, memory_kib=262144))
    assert f.stat().st_ino != ino, "config rewritten in place (not temp file + rename)"
    assert int(ET.fromstring(f.read_text()).find("memory").text) == 262144
    for i in range(5):
        c.define(domain_xml(f"many{i}"))
    names = only_final_files(f.parent, ".xml")
    assert len(names) == 6


def test_undefine_removes_config(env, c):
    u = new_uuid()
    d = c.define(domain_xml("rm", uuid=u))
    d.undefine()
    assert not env.config_file(u).exists()
    assert only_final_files(env.config_file(u).parent, ".xml") == []


def test_transient_has_no_config(env, c):
    u = new_uuid()
    d = c.create(domain_xml("tr", uuid=u))
    assert not env.config_file(u).exists()
    d.destroy()


def test_runtime_status(env, c):
    u = new_uuid()
    d = c.define(domain_xml("st", uuid=u))
    st = env.status_file(u)
    assert not st.exists()
    d.start()
    assert st.is_file()
    x = ET.fromstring(st.read_text())
    assert x.tag == "domstatus"
    dom = x.find(".//domain")
    assert dom is not None and dom.find("uuid").text == u
    d.suspend()
    d.destroy()
    assert not st.exists(), "runtime status left after the domain stopped"
    only_final_files(st.parent, ".xml")


def test_config_reloaded_after_restart(env, c):
    u = new_uuid()
    d = c.define(domain_xml("reload", uuid=u, memory_kib=262144, current_kib=131072, vcpus=4))
    d.set_autostart(False)
    before = d.props()
    xml_before = d.xml(F.XML_INACTIVE)
    env.restart()
    c2 = env.client()
    d2 = d.on(c2)
    after = d2.props()
    before.pop("CPUTime"), after.pop("CPUTime")
    assert after == before
    assert d2.xml(F.XML_INACTIVE) == xml_before
    assert c2.list_domains() == [d.path]


def test_unknown_elements_round_trip(env, c):
    u = new_uuid()
    extra = "<metadata><app:x xmlns:app='urn:example'>keep me</app:x></metadata>"
    d = c.define(domain_xml("rt", uuid=u, extra=extra))
    assert "keep me" in d.xml()
    assert "keep me" in env.config_file(u).read_text()
    env.restart()
    assert "keep me" in d.on(env.client()).xml()


def test_broken_config_does_not_stop_the_daemon(env, c):
    """A config file that no longer parses is skipped (logged), the others load."""
    u = new_uuid()
    c.define(domain_xml("good", uuid=u))
    env.stop()
    bad = env.config_file(u).parent / f"{new_uuid()}.xml"
    bad.write_text("<domain type='test'><name>broken</name")
    env.start()
    c2 = env.client()
    assert [p for p in c2.list_domains()] == [c.lookup("good").path]
    assert state_of(c2.lookup("good")) == ("shutoff", "unknown")

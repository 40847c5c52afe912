# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input: the right error name and message, and nothing changes."""

import pytest

from harness import (F, TEST_HV_PATH, HV_IFACE, DOMAIN_IFACE, ROOT_PATH, MANAGER_IFACE,
                     E_INVALID_XML, E_INVALID_ARGUMENT, E_INVALID_STATE, E_ALREADY_EXISTS,
                     E_NO_SUCH_DOMAIN, E_UNKNOWN_OBJECT, domain_xml, snapshot_xml, new_uuid,
                     assert_error, state_of, uuid32)


class Unchanged:
    """Captures the object list, every domain's properties and the state
    folder; .check() asserts they are the same."""

    def __init__(self, env, c):
        self.env, self.c = env, c
        self.before = self.capture()

    def capture(self):
        objs = self.c.managed_objects()
        for ifaces in objs.values():
            for props in ifaces.values():
                props.pop("CPUTime", None)
            # free space of the host's file system: moves with any write
            ifaces.get("org.domaind1.StoragePool", {}).pop("Available", None)
        return objs, self.env.tree(self.env.state_dir)

    def check(self):
        after = self.capture()
        assert after[0] == self.before[0], "objects or properties changed"
        assert after[1] == self.before[1], "files in the state folder changed"


@pytest.fixture
def world(env, c):
    """A few domains, so that "nothing changed" means something."""
    a = c.define(domain_xml("a"))
    b = c.define(domain_xml("b"))
    b.start()
    b.snapshot(snapshot_xml("s"))
    t = c.create(domain_xml("t"))
    return {"a": a, "b": b, "t": t}


BAD_XML = [
    # (xml, word the message must contain)
    ("<domain type='test'><name>x</name>", None),                      # not well-formed
    ("this is not xml", None),
    ("<vm type='test'><name>x</name></vm>", "domain"),                 # wrong root
    ("<domain type='test'><memory unit='KiB'>1024</memory></domain>", "name"),
    ("<domain type='test'><name>x</name><memory unit='KiB'>lots</memory></domain>", "memory"),
    ("<domain type='test'><name>x</name><memory unit='parsecs'>1</memory></domain>", "memory"),
    ("<domain type='test'><name>x</name><uuid>not-a-uuid</uuid>"
     "<memory unit='KiB'>1024</memory></domain>", "uuid"),
    ("<domain type='test'><name>x</name><memory unit='KiB'>1024</memory>"
     "<vcpu>zero</vcpu></domain>", "vcpu"),
    ("<domain type='test'><name>x</name><memory unit='KiB'>1024</memory>"
     "<on_poweroff>explode</on_poweroff></domain>", "on_poweroff"),
    ("<domain type='test'><name></name><memory unit='KiB'>1024</memory></domain>", "name"),
]


@pytest.mark.parametrize("method", ["DefineXML", "CreateXML"])
@pytest.mark.parametrize("xml,word", BAD_XML)
def test_invalid_xml(env, c, world, method, xml, word):
    u = Unchanged(env, c)
    err = assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, method, "st", (xml, 0), "(o)"),
                       E_INVALID_XML)
    assert err.message.strip() != ""
    if word:
        assert word in err.message.lower(), f"message {err.message!r} does not name {word!r}"
    u.check()


def test_wrong_domain_type(env, c, world):
    u = Unchanged(env, c)
    e = c.call_error(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                     (domain_xml("kvmhere", dtype="kvm"), 0), "(o)")
    assert e.name in (E_INVALID_XML, E_INVALID_ARGUMENT, "org.domaind1.Error.NotSupported"), e
    assert "kvm" in e.message
    u.check()


def test_no_such_domain_lookups(env, c, world):
    u = Unchanged(env, c)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByName", "s", ("nope",), "(o)"),
                 E_NO_SUCH_DOMAIN, "nope")
    missing = new_uuid()
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByUUID", "s", (missing,), "(o)"),
                 E_NO_SUCH_DOMAIN)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByUUID", "s", (uuid32(missing),),
                              "(o)"), E_NO_SUCH_DOMAIN)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByID", "i", (4242,), "(o)"),
                 E_NO_SUCH_DOMAIN)
    # an inactive domain has no id
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByID", "i", (-1,), "(o)"),
                 E_NO_SUCH_DOMAIN)
    u.check()


def test_lookup_by_uuid_forms(env, c, world):
    a = world["a"]
    uu = a.uuid
    for form in (uu, uuid32(uu), uu.upper()):
        assert c.hv_call("LookupByUUID", "s", (form,), "(o)") == a.path, form


@pytest.mark.parametrize("bad", ["", "xyz", "1234", "0123456789abcdef0123456789abcdeg",
                                 "01234567-89ab-cdef-0123-456789abcdef0",
                                 "01234567_89ab_cdef_0123_456789abcdef"])
def test_bad_uuid_string(env, c, bad):
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByUUID", "s", (bad,), "(o)"),
                 E_INVALID_ARGUMENT)


def test_method_on_missing_domain_path(env, c, world):
    u = Unchanged(env, c)
    path = "/org/domaind1/test/domain/" + "0" * 32
    for method, sig, args in [("Start", "t", (0,)), ("Destroy", "t", (0,)),
                              ("Undefine", "t", (0,)), ("Suspend", None, ())]:
        e = c.call_error(path, DOMAIN_IFACE, method, sig, args)
        assert e.name in (E_NO_SUCH_DOMAIN, E_UNKNOWN_OBJECT), e
    e = c.call_error(path, "org.freedesktop.DBus.Properties", "Get", "ss", (DOMAIN_IFACE, "State"),
                     "(v)")
    assert e.name in (E_NO_SUCH_DOMAIN, E_UNKNOWN_OBJECT,
                      "org.freedesktop.DBus.Error.UnknownInterface",
                      "org.freedesktop.DBus.Error.UnknownProperty"), e
    u.check()


def test_undefined_domain_path_is_gone(env, c, world):
    a = world["a"]
    a.undefine()
    e = a.call_error("Start", "t", (0,))
    assert e.name in (E_NO_SUCH_DOMAIN, E_UNKNOWN_OBJECT), e
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "LookupByName", "s", ("a",), "(o)"),
                 E_NO_SUCH_DOMAIN)


def test_invalid_state_names_current_state(env, c, world):
    u = Unchanged(env, c)
    a, b = world["a"], world["b"]
    assert_error(a.call_error("Suspend"), E_INVALID_STATE, "shutoff")
    assert_error(a.call_error("Destroy", "t", (0,)), E_INVALID_STATE, "shutoff")
    assert_error(a.call_error("Shutdown", "t", (0,)), E_INVALID_STATE, "shutoff")
    assert_error(a.call_error("Reset", "t", (0,)), E_INVALID_STATE, "shutoff")
    assert_error(a.call_error("ManagedSave", "t", (0,)), E_INVALID_STATE, "shutoff")
    assert_error(b.call_error("Start", "t", (0,)), E_INVALID_STATE, "running")
    u.check()
    b.suspend()
    u = Unchanged(env, c)
    assert_error(b.call_error("Start", "t", (0,)), E_INVALID_STATE, "paused")
    assert_error(b.call_error("Shutdown", "t", (0,)), E_INVALID_STATE, "paused")
    u.check()


def test_already_exists(env, c, world):
    a = world["a"]
    u = Unchanged(env, c)
    # same name, another UUID
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                              (domain_xml("a", uuid=new_uuid()), 0), "(o)"),
                 E_ALREADY_EXISTS, "a")
    # same UUID, another name
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                              (domain_xml("other", uuid=a.uuid), 0), "(o)"), E_ALREADY_EXISTS)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "CreateXML", "st",
                              (domain_xml("other", uuid=a.uuid), 0), "(o)"), E_ALREADY_EXISTS)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "CreateXML", "st",
                              (domain_xml("a", uuid=new_uuid()), 0), "(o)"), E_ALREADY_EXISTS)
    # transient running domain's name
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "CreateXML", "st",
                              (domain_xml("t"), 0), "(o)"), E_ALREADY_EXISTS)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                              (domain_xml("t", uuid=new_uuid()), 0), "(o)"), E_ALREADY_EXISTS)
    u.check()


# (object, interface, method, signature, args with a placeholder for flags, reply)
FLAG_CALLS = [
    ("hv", HV_IFACE, "DefineXML", "st", ("XML", "FLAGS"), "(o)"),
    ("hv", HV_IFACE, "CreateXML", "st", ("XML", "FLAGS"), "(o)"),
    ("hv", HV_IFACE, "ListDomains", "t", ("FLAGS",), "(ao)"),
    ("hv", HV_IFACE, "Restore", "sst", ("/nonexistent.save", "", "FLAGS"), "(o)"),
    ("root", MANAGER_IFACE, "ListDomains", "t", ("FLAGS",), "(ao)"),
    ("a", DOMAIN_IFACE, "Start", "t", ("FLAGS",), "()"),
    ("a", DOMAIN_IFACE, "Undefine", "t", ("FLAGS",), "()"),
    ("a", DOMAIN_IFACE, "GetXMLDesc", "t", ("FLAGS",), "(s)"),
    ("a", DOMAIN_IFACE, "ListSnapshots", "t", ("FLAGS",), "(ao)"),
    ("a", DOMAIN_IFACE, "ManagedSaveRemove", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "Shutdown", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "Reboot", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "Reset", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "Destroy", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "Save", "sst", ("/tmp/domaind-never.save", "", "FLAGS"), "()"),
    ("b", DOMAIN_IFACE, "ManagedSave", "t", ("FLAGS",), "()"),
    ("b", DOMAIN_IFACE, "CreateSnapshot", "st", ("", "FLAGS"), "(o)"),
]


@pytest.mark.parametrize("target,iface,method,sig,args,reply", FLAG_CALLS,
                         ids=[f"{x[2]}-{x[0]}" for x in FLAG_CALLS])
def test_unknown_flags(env, c, world, target, iface, method, sig, args, reply):
    path = {"hv": TEST_HV_PATH, "root": ROOT_PATH, "a": world["a"].path,
            "b": world["b"].path}[target]
    u = Unchanged(env, c)
    for bit in (1 << 40, 1 << 63):
        real = tuple(bit if x == "FLAGS" else domain_xml("fresh") if x == "XML" else x
                     for x in args)
        assert_error(c.call_error(path, iface, method, sig, real, reply), E_INVALID_ARGUMENT)
    u.check()


def test_relative_save_path(env, c, world):
    b = world["b"]
    u = Unchanged(env, c)
    for p in ("b.save", "./b.save", "../b.save", ""):
        assert_error(b.call_error("Save", "sst", (p, "", 0)), E_INVALID_ARGUMENT)
    assert_error(c.call_error(TEST_HV_PATH, HV_IFACE, "Restore", "sst", ("b.save", "", 0),
                              "(o)"), E_INVALID_ARGUMENT)
    u.check()
    assert state_of(b) == ("running", "booted")


def test_save_over_non_regular_file(env, c, world, tmp_path):
    b = world["b"]
    u = Unchanged(env, c)
    import os
    os.mkfifo(tmp_path / "fifo")
    assert_error(b.call_error("Save", "sst", (str(tmp_path / "fifo"), "", 0)), E_INVALID_ARGUMENT)
    assert_error(b.call_error("Save", "sst", (str(tmp_path), "", 0)), E_INVALID_ARGUMENT)
    u.check()


def test_wrong_signature(env, c, world):
    u = Unchanged(env, c)
    e = c.call_error(world["a"].path, DOMAIN_IFACE, "Start", "s", ("now",))
    assert e.name == "org.freedesktop.DBus.Error.InvalidArgs", e
    e = c.call_error(world["a"].path, DOMAIN_IFACE, "Fly", "t", (0,))
    assert e.name == "org.freedesktop.DBus.Error.UnknownMethod", e
    u.check()


def test_read_only_properties(env, c, world):
    from harness import GLib
    u = Unchanged(env, c)
    e = c.call_error(world["a"].path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                     (DOMAIN_IFACE, "Name", GLib.Variant("s", "renamed")))
    assert e.name == "org.freedesktop.DBus.Error.PropertyReadOnly", e
    e = c.call_error(world["a"].path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                     (DOMAIN_IFACE, "Autostart", GLib.Variant("s", "yes")))
    assert e.name == "org.freedesktop.DBus.Error.InvalidArgs", e
    u.check()

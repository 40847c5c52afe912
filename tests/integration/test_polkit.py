# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization: domaind asks a real polkitd about every call.

One environment for the module (polkit_env in conftest.py): a system-like
bus, polkitd with POLKIT_RULES below, domaind as root, and real users
(polkit_harness.TEST_USERS):

  dmd-plain  no special group: polkit's defaults (read yes, the rest
             auth_admin: with no agent a challenge)
  dmd-vm     group dmd-vmusers, to which the rules grant every org.domaind1 action
  dmd-lab    group dmd-lab: domain.control on domains named lab-*, plus
             single-detail rules that show which details reach polkit

Tests that change the rules or stop polkitd put them back.
"""

import time
import xml.etree.ElementTree as ET

import pytest

import harness
import polkit_harness
from harness import (DOMAIN_IFACE, E_INVALID_ARGUMENT, E_INVALID_STATE, E_INVALID_XML, E_NO_SUCH_DOMAIN,
                     E_NOT_SUPPORTED, HV_IFACE, MANAGER_IFACE, OM_IFACE, POOL_IFACE, PROPS_IFACE, REPO_ROOT,
                     ROOT_PATH, SNAPSHOT_IFACE, TEST_HV_PATH, F, domain_xml, snapshot_path)
from polkit_harness import (E_ACCESS_DENIED, E_INTERACTIVE, POLKIT_TIMEOUT_SEC,
                            call_spec, variant)

DET_UUID = "6f1e2d3c-4b5a-4978-8877-665544332211"
DET2_UUID = "6f1e2d3c-4b5a-4978-8877-665544332212"

A_READ = "org.domaind1.read"
A_DEFINE = "org.domaind1.domain.define"
A_CONTROL = "org.domaind1.domain.control"
A_SAVE = "org.domaind1.domain.save"
A_SNAPSHOT = "org.domaind1.domain.snapshot"
A_MIGRATE = "org.domaind1.domain.migrate"
A_CONSOLE = "org.domaind1.domain.console"
A_STORAGE = "org.domaind1.storage.manage"
UNCHECKED = None  # Properties.Get/GetAll & co: no hook, no polkit

VM_ALLOW_RULE = """\
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.domaind1.") == 0 && subject.isInGroup("dmd-vmusers"))
        return polkit.Result.YES;
});
"""

VM_DENY_RULE = """\
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.domaind1.") == 0 && action.id != "org.domaind1.read" &&
        subject.isInGroup("dmd-vmusers"))
        return polkit.Result.NO;
});
"""

LAB_RULES = """\
function detail(action, key) {
    var v = action.lookup(key);
    return v === undefined || v === null ? undefined : String(v);
}
// the uuid detail is the Domain.UUID property: the dashed form
function uuidIs(action, uuid) {
    return detail(action, "uuid") === uuid;
}
polkit.addRule(function(action, subject) {
    if (!subject.isInGroup("dmd-lab"))
        return polkit.Result.NOT_HANDLED;
    var dom = detail(action, "domain") || "";
    // DESIGN.md's example: the domain detail
    if (action.id == "org.domaind1.domain.control" && dom.indexOf("lab-") == 0)
        return polkit.Result.YES;
    // the method detail
    if (action.id == "org.domaind1.domain.save" && detail(action, "method") == "ManagedSaveRemove")
        return polkit.Result.YES;
    // the uuid detail
    if (action.id == "org.domaind1.domain.snapshot" && uuidIs(action, "%(det)s"))
        return polkit.Result.YES;
    // the hypervisor detail
    if (action.id == "org.domaind1.domain.console" && detail(action, "hypervisor") == "test")
        return polkit.Result.YES;
    if (action.id == "org.domaind1.domain.migrate" && detail(action, "hypervisor") == "kvm")
        return polkit.Result.YES;
    // all four at once
    if (action.id == "org.domaind1.domain.define" && detail(action, "hypervisor") == "test" &&
        dom == "det-1" && uuidIs(action, "%(det)s") && detail(action, "method") == "GetXMLDesc")
        return polkit.Result.YES;
    // storage: the pool and volume details
    if (action.id == "org.domaind1.storage.manage" && detail(action, "pool") == "labpool" &&
        (detail(action, "volume") || "").indexOf("lab-") == 0)
        return polkit.Result.YES;
    // a Manager call: a method, no domain, no uuid
    if (action.id == "org.domaind1.storage.manage" && detail(action, "domain") === undefined &&
        detail(action, "uuid") === undefined && detail(action, "method") == "DefinePoolXML")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
""" % {"det": DET_UUID}


def rules(vm_rule=VM_ALLOW_RULE):
    return "// domaind polkit tests (tests/integration/test_polkit.py)\n" + vm_rule + LAB_RULES


POLKIT_RULES = rules()


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def clients(polkit_env):
    """One long-lived client (process + connection) per user."""
    return {u: polkit_env.user_client(u, label=u) for u in ("root", "dmd-plain", "dmd-vm", "dmd-lab")}


@pytest.fixture(scope="module")
def lab_domains(polkit_env):
    """lab-1, lab-2, prod-1, det-1, det-2: persistent, shut off, defined by root."""
    a = polkit_env.admin
    out = {}
    for name, uuid in (("lab-1", None), ("lab-2", None), ("prod-1", None), ("det-1", DET_UUID),
                       ("det-2", DET2_UUID)):
        out[name] = a.define(domain_xml(name, uuid)).path
    return out


@pytest.fixture
def base_rules(pk):
    """The module's rules and a running polkitd, before and after the test."""
    def restore():
        if pk.polkitd is not None and pk.polkitd.poll() is not None:
            pk.stop_polkitd()  # died: forget it
        if pk.polkitd is None:
            pk.start_polkitd()
        else:
            pk.resume_polkitd()
        pk.set_rules(POLKIT_RULES)
    restore()
    yield pk
    restore()


def dom_call(path, method, sig=None, args=(), **kw):
    return call_spec(path, DOMAIN_IFACE, method, sig, args, **kw)


def assert_refused(res, action, interactive, what=""):
    """A refusal by polkit's answer (not by polkit being unreachable)."""
    if interactive:
        assert res.error == E_ACCESS_DENIED, f"{what}: expected AccessDenied, got {res!r}"
        assert action in res.message, f"{what}: AccessDenied message does not name {action}: {res!r}"
    else:
        assert res.error == E_INTERACTIVE, \
            f"{what}: expected InteractiveAuthorizationRequired, got {res!r}"


def assert_polkit_unreachable(res, what=""):
    assert res.error == E_ACCESS_DENIED, f"{what}: expected AccessDenied, got {res!r}"
    assert "polkit" in res.message.lower(), f"{what}: message does not mention polkit: {res!r}"


# ---------------------------------------------------------------------------
# harness sanity: users, groups and rules as polkit sees them


def test_harness_users_and_polkit_view(pk, clients):
    for name in ("dmd-plain", "dmd-vm", "dmd-lab"):
        u = pk.users[name]
        ident = clients[name].identity()
        assert ident["uid"] == u.uid and ident["gid"] == u.gid
        assert sorted(ident["groups"]) == sorted(u.groups)
        assert u.uid >= 61000
    # polkitd resolves the users through the passwd/group copies
    assert pk.pk_check(clients["dmd-vm"].unique_name, A_CONTROL) == (True, False)
    assert pk.pk_check(clients["dmd-plain"].unique_name, A_CONTROL) == (False, True)
    assert pk.pk_check(clients["dmd-plain"].unique_name, A_READ) == (True, False)
    assert pk.pk_check(clients["dmd-lab"].unique_name, A_CONTROL, {"domain": "lab-9"}) == (True, False)
    assert pk.pk_check(clients["dmd-lab"].unique_name, A_CONTROL, {"domain": "prod-9"}) == (False, True)


# ---------------------------------------------------------------------------
# (a) the matrix: every method of every interface, by root, dmd-plain, dmd-vm


class Ctx:
    """The objects one caller's run of the matrix works on."""

    def __init__(self, pk, tag):
        self.tag = tag
        self.name = f"mx-{tag}"
        a = pk.admin
        dom = a.define(domain_xml(self.name))
        self.path = dom.path
        self.uuid = dom.uuid
        self.snap = dom.snapshot(harness.snapshot_xml("s1")).path
        self.new_xml = domain_xml(f"mx-{tag}-new")
        self.tr_xml = domain_xml(f"mx-{tag}-tr")
        self.save_path = str(pk.tmp / f"mx-{tag}.save")
        # a pool of its own (Undefine is in the matrix) holding one volume
        folder = pk.tmp / f"pool-{tag}"
        folder.mkdir()
        self.pool = a.call(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st",
                           [pool_xml(f"mx-{tag}", folder), 0], reply="(o)")
        self.vol = a.call(self.pool, POOL_IFACE, "CreateVolumeXML", "st", [volume_xml("v1"), 0],
                          reply="(o)")


M, H, D, S, P, O = "manager", "hypervisor", "domain", "snapshot", "properties", "other"
PL, V = "pool", "volume"
VOL_IFACE = "org.domaind1.StorageVolume"


def pool_xml(name, folder):
    return f"<pool type='dir'><name>{name}</name><target><path>{folder}</path></target></pool>"


def volume_xml(name, mib=1):
    return f"<volume><name>{name}</name><capacity unit='MiB'>{mib}</capacity></volume>"

OK = "ok"

# (target, interface, method, signature, args(ctx), action, outcome when
# authorized). Run in this order on one shut off persistent domain that has
# one snapshot (s1): the authorized outcomes follow LIFECYCLE.md.
MATRIX = [
    (M, MANAGER_IFACE, "ListDomains", "t", lambda c: [0], A_READ, OK),
    (M, MANAGER_IFACE, "ListPools", None, lambda c: [], A_READ, OK),
    (M, MANAGER_IFACE, "LookupPool", "s", lambda c: ["default"], A_READ, OK),
    (M, MANAGER_IFACE, "DefinePoolXML", "st",
     lambda c: [f"<pool type='dir'><name>p-{c.tag}</name><target><path>/nonexistent</path></target></pool>", 0],
     A_STORAGE, E_INVALID_ARGUMENT),
    (PL, POOL_IFACE, "ListVolumes", None, lambda c: [], A_READ, OK),
    (PL, POOL_IFACE, "LookupVolume", "s", lambda c: ["v1"], A_READ, OK),
    (PL, POOL_IFACE, "Refresh", None, lambda c: [], A_READ, OK),
    (PL, POOL_IFACE, "GetXMLDesc", "t", lambda c: [0], A_READ, OK),
    (PL, POOL_IFACE, "CreateVolumeXML", "st", lambda c: [volume_xml("v2"), 0], A_STORAGE, OK),
    (V, VOL_IFACE, "GetXMLDesc", "t", lambda c: [0], A_READ, OK),
    (V, VOL_IFACE, "GetJobInfo", None, lambda c: [], A_READ, OK),
    (V, VOL_IFACE, "Resize", "tt", lambda c: [2 << 20, 0], A_STORAGE, OK),
    (V, VOL_IFACE, "Wipe", "ut", lambda c: [0, 0], A_STORAGE, OK),
    (V, VOL_IFACE, "Delete", "t", lambda c: [0], A_STORAGE, OK),
    (PL, POOL_IFACE, "Undefine", None, lambda c: [], A_STORAGE, OK),
    (H, HV_IFACE, "ListDomains", "t", lambda c: [0], A_READ, OK),
    (H, HV_IFACE, "LookupByName", "s", lambda c: [c.name], A_READ, OK),
    (H, HV_IFACE, "LookupByUUID", "s", lambda c: [c.uuid], A_READ, OK),
    (H, HV_IFACE, "LookupByID", "i", lambda c: [999999], A_READ, E_NO_SUCH_DOMAIN),
    (H, HV_IFACE, "GetCapabilities", None, lambda c: [], A_READ, OK),
    (H, HV_IFACE, "DefineXML", "st", lambda c: [c.new_xml, 0], A_DEFINE, OK),
    (H, HV_IFACE, "CreateXML", "st", lambda c: [c.tr_xml, 0], A_DEFINE, OK),
    (D, DOMAIN_IFACE, "GetXMLDesc", "t", lambda c: [0], A_READ, OK),
    (D, DOMAIN_IFACE, "GetXMLDesc", "t", lambda c: [F.XML_SECURE], A_DEFINE, OK),
    (D, DOMAIN_IFACE, "ListSnapshots", "t", lambda c: [0], A_READ, OK),
    (D, DOMAIN_IFACE, "GetJobInfo", None, lambda c: [], A_READ, OK),
    (S, SNAPSHOT_IFACE, "GetXMLDesc", "t", lambda c: [0], A_READ, OK),
    (S, SNAPSHOT_IFACE, "GetXMLDesc", "t", lambda c: [F.XML_SECURE], A_DEFINE, OK),
    (S, SNAPSHOT_IFACE, "ListChildren", "t", lambda c: [0], A_READ, OK),
    (D, DOMAIN_IFACE, "Shutdown", "t", lambda c: [0], A_CONTROL, E_INVALID_STATE),
    (D, DOMAIN_IFACE, "Start", "t", lambda c: [0], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Suspend", None, lambda c: [], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Resume", None, lambda c: [], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Reset", "t", lambda c: [0], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Reboot", "t", lambda c: [0], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "CreateSnapshot", "st", lambda c: [harness.snapshot_xml("s2"), 0], A_SNAPSHOT, OK),
    (D, DOMAIN_IFACE, "ManagedSave", "t", lambda c: [0], A_SAVE, OK),
    (D, DOMAIN_IFACE, "ManagedSaveRemove", "t", lambda c: [0], A_SAVE, OK),
    (D, DOMAIN_IFACE, "Start", "t", lambda c: [0], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Save", "sst", lambda c: [c.save_path, "", 0], A_SAVE, OK),
    (H, HV_IFACE, "Restore", "sst", lambda c: [c.save_path, "", 0], A_SAVE, OK),
    (D, DOMAIN_IFACE, "Destroy", "t", lambda c: [0], A_CONTROL, OK),
    (D, DOMAIN_IFACE, "Migrate", "sa{sv}t", lambda c: ["unix:path=/nonexistent", {}, 0], A_MIGRATE,
     E_NOT_SUPPORTED),
    (D, DOMAIN_IFACE, "AbortJob", None, lambda c: [], A_MIGRATE, E_INVALID_STATE),
    (D, DOMAIN_IFACE, "OpenConsole", "st", lambda c: ["", 0], A_CONSOLE, E_NOT_SUPPORTED),
    (D, DOMAIN_IFACE, "Undefine", "t", lambda c: [0], A_DEFINE, E_INVALID_STATE),  # has snapshots
    (P, PROPS_IFACE, "Set", "ssv", lambda c: [DOMAIN_IFACE, "Autostart", variant("b", True)],
     A_DEFINE, OK),
    (S, SNAPSHOT_IFACE, "Revert", "t", lambda c: [0], A_SNAPSHOT, OK),
    (S, SNAPSHOT_IFACE, "Delete", "t", lambda c: [0], A_SNAPSHOT, OK),
    # not checked at all (sd-bus calls no hook for property reads)
    (P, PROPS_IFACE, "Get", "ss", lambda c: [DOMAIN_IFACE, "State"], UNCHECKED, OK),
    (P, PROPS_IFACE, "GetAll", "s", lambda c: [DOMAIN_IFACE], UNCHECKED, OK),
    (O, OM_IFACE, "GetManagedObjects", None, lambda c: [], UNCHECKED, OK),
]


def matrix_spec(step, ctx, interactive):
    target, iface, method, sig, args, _action, _expect = step
    path = {M: ROOT_PATH, H: TEST_HV_PATH, D: ctx.path, S: ctx.snap, P: ctx.path,
            O: ROOT_PATH, PL: ctx.pool, V: ctx.vol}[target]
    return call_spec(path, iface, method, sig, args(ctx), interactive=interactive)


def run_matrix(pk, client, tag, interactive):
    ctx = Ctx(pk, tag)
    out = []
    for step in MATRIX:
        res = client.calls([matrix_spec(step, ctx, interactive)])[0]
        out.append((step, res))
    return ctx, out


def expected_outcomes(step, authorized, interactive):
    """The acceptable outcomes of one step for a caller."""
    action, expect = step[5], step[6]
    if authorized or action in (A_READ, UNCHECKED):
        return {expect}
    return {E_ACCESS_DENIED if interactive else E_INTERACTIVE}


def check_matrix(results, authorized, interactive):
    bad = []
    for step, res in results:
        want = expected_outcomes(step, authorized, interactive)
        if res.outcome not in want:
            bad.append(f"  {step[1]}.{step[2]} [{step[5]}]: expected {sorted(want)}, got {res!r}")
        elif res.outcome == E_ACCESS_DENIED and step[5] not in res.message:
            bad.append(f"  {step[1]}.{step[2]}: AccessDenied message does not name {step[5]}: "
                       f"{res.message!r}")
    assert not bad, "matrix mismatches:\n" + "\n".join(bad)


def test_policy_file_matches_design():
    """polkit/org.domaind1.policy (what the harness gives polkitd) has
    DESIGN.md's actions and defaults, nothing else."""
    root = ET.parse(REPO_ROOT / "polkit" / "org.domaind1.policy").getroot()
    got = {}
    for a in root.findall("action"):
        d = a.find("defaults")
        got[a.get("id")] = tuple(d.findtext(k).strip() for k in
                                 ("allow_any", "allow_inactive", "allow_active"))
    assert got == polkit_harness.ACTIONS


def test_matrix_covers_every_method():
    """MATRIX names every method of the six interfaces and every writable
    property (introspection/ is the source of truth)."""
    covered = {(s[1], s[2]) for s in MATRIX}
    want = set()
    for iface in (MANAGER_IFACE, HV_IFACE, DOMAIN_IFACE, SNAPSHOT_IFACE, POOL_IFACE, VOL_IFACE):
        root = ET.parse(REPO_ROOT / "introspection" / f"{iface}.xml").getroot()
        for i in root.iter("interface"):
            for m in i.findall("method"):
                want.add((i.get("name"), m.get("name")))
            for p in i.findall("property"):
                if p.get("access") in ("write", "readwrite"):
                    assert (i.get("name"), p.get("name")) == (DOMAIN_IFACE, "Autostart"), \
                        f"writable property {p.get('name')} not in MATRIX"
                    want.add((PROPS_IFACE, "Set"))
    missing = want - covered
    assert not missing, f"methods missing from MATRIX: {sorted(missing)}"
    # every authorization-checked step names an action of DESIGN.md's table
    assert {s[5] for s in MATRIX} == {A_READ, A_DEFINE, A_CONTROL, A_SAVE, A_SNAPSHOT, A_MIGRATE,
                                      A_CONSOLE, A_STORAGE, UNCHECKED}


@pytest.mark.parametrize("who,authorized,interactive", [
    ("root", True, False),
    ("dmd-vm", True, False),
    ("dmd-vm", True, True),
    ("dmd-plain", False, False),
    ("dmd-plain", False, True),
], ids=["root", "vmusers", "vmusers-interactive", "plain", "plain-interactive"])
def test_matrix(pk, clients, base_rules, who, authorized, interactive):
    tag = f"{who.replace('dmd-', '')}{'-i' if interactive else ''}"
    ctx, results = run_matrix(pk, clients[who], tag, interactive)
    check_matrix(results, authorized, interactive)
    a = pk.admin
    dom = a.domain(ctx.path)
    if authorized:
        # the calls did their work
        assert dom.prop("Autostart") is True
        assert a.lookup(f"mx-{tag}-new").path
        assert a.lookup(f"mx-{tag}-tr").prop("State") == "running"
        assert dom.snapshots() == [snapshot_path(ctx.path, "s2")]
    else:
        # refused calls changed nothing
        assert dom.state_reason() == ("shutoff", "unknown")
        assert dom.prop("Autostart") is False
        assert dom.snapshots() == [ctx.snap]
        assert not pk.tmp.joinpath(f"mx-{tag}.save").exists()
        names = {a.domain(p).name for p in a.list_domains()}
        assert f"mx-{tag}-new" not in names and f"mx-{tag}-tr" not in names


# ---------------------------------------------------------------------------
# (b) rules that look at the details


def test_lab_rule_domain_detail(pk, clients, base_rules, lab_domains):
    lab, plain = clients["dmd-lab"], clients["dmd-plain"]
    a = pk.admin
    r = lab.calls([dom_call(lab_domains["lab-1"], "Start", "t", [0])])[0]
    assert r.ok, r
    assert a.domain(lab_domains["lab-1"]).state == "running"
    for interactive in (False, True):
        r = lab.calls([dom_call(lab_domains["prod-1"], "Start", "t", [0], interactive=interactive)])[0]
        assert_refused(r, A_CONTROL, interactive, "dmd-lab Start prod-1")
    assert a.domain(lab_domains["prod-1"]).state == "shutoff"
    # the group matters, not the domain alone
    r = plain.calls([dom_call(lab_domains["lab-2"], "Start", "t", [0])])[0]
    assert_refused(r, A_CONTROL, False, "dmd-plain Start lab-2")
    # only domain.control: saving a lab domain is still refused
    r = lab.calls([dom_call(lab_domains["lab-1"], "ManagedSave", "t", [0])])[0]
    assert_refused(r, A_SAVE, False, "dmd-lab ManagedSave lab-1")
    res = lab.calls([dom_call(lab_domains["lab-1"], "Suspend"),
                     dom_call(lab_domains["lab-2"], "Start", "t", [0])])
    assert all(x.ok for x in res), res
    res = lab.calls([dom_call(lab_domains["lab-1"], "Destroy", "t", [0]),
                     dom_call(lab_domains["lab-2"], "Destroy", "t", [0])])
    assert all(x.ok for x in res), res
    assert a.domain(lab_domains["lab-1"]).state == "shutoff"


def test_method_detail(clients, base_rules, lab_domains):
    lab = clients["dmd-lab"]
    # domain.save is granted for method == "ManagedSaveRemove" only
    r = lab.calls([dom_call(lab_domains["prod-1"], "ManagedSaveRemove", "t", [0])])[0]
    assert r.ok, r
    r = lab.calls([dom_call(lab_domains["prod-1"], "ManagedSave", "t", [0])])[0]
    assert_refused(r, A_SAVE, False, "dmd-lab ManagedSave prod-1")


def test_uuid_detail(pk, clients, base_rules, lab_domains):
    lab = clients["dmd-lab"]
    # domain.snapshot is granted for det-1's uuid only
    r = lab.calls([dom_call(lab_domains["det-1"], "CreateSnapshot", "st",
                            [harness.snapshot_xml("by-lab"), 0])])[0]
    assert r.ok, r
    snap = r.value[0]
    r = lab.calls([dom_call(lab_domains["det-2"], "CreateSnapshot", "st",
                            [harness.snapshot_xml("by-lab"), 0])])[0]
    assert_refused(r, A_SNAPSHOT, False, "dmd-lab CreateSnapshot det-2")
    # a Snapshot object's call carries its domain's uuid
    r = lab.calls([call_spec(snap, SNAPSHOT_IFACE, "Delete", "t", [0])])[0]
    assert r.ok, r
    assert pk.admin.domain(lab_domains["det-1"]).snapshots() == []


def test_hypervisor_detail(clients, base_rules, lab_domains):
    lab = clients["dmd-lab"]
    # domain.console granted when hypervisor == "test": the hypervisor's own answer
    r = lab.calls([dom_call(lab_domains["det-2"], "OpenConsole", "st", ["", 0])])[0]
    assert r.error == E_NOT_SUPPORTED, r
    # domain.migrate granted only when hypervisor == "kvm"
    r = lab.calls([dom_call(lab_domains["det-2"], "Migrate", "sa{sv}t", ["unix:path=/nonexistent", {}, 0])])[0]
    assert_refused(r, A_MIGRATE, False, "dmd-lab Migrate det-2")


def test_all_details_at_once(clients, base_rules, lab_domains):
    lab = clients["dmd-lab"]
    # domain.define granted for hypervisor test, domain det-1, det-1's uuid, method GetXMLDesc
    r = lab.calls([dom_call(lab_domains["det-1"], "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert r.ok, r
    assert "<name>det-1</name>" in r.value[0]
    r = lab.calls([dom_call(lab_domains["det-2"], "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert_refused(r, A_DEFINE, False, "dmd-lab GetXMLDesc(SECURE) det-2")
    # same action on det-1 with another method
    r = lab.calls([dom_call(lab_domains["det-1"], "Undefine", "t", [0])])[0]
    assert_refused(r, A_DEFINE, False, "dmd-lab Undefine det-1")


def test_manager_call_details(clients, base_rules):
    """Manager calls pass the method and no domain/uuid; the XML is only
    looked at after authorization."""
    spec = call_spec(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st",
                     ["<pool type='dir'><name>p</name></pool>", 0])
    r = clients["dmd-lab"].calls([spec])[0]
    assert r.error == E_INVALID_XML and "<path>" in r.message, r
    r = clients["dmd-plain"].calls([spec])[0]
    assert_refused(r, A_STORAGE, False, "dmd-plain DefinePoolXML")


def test_storage_call_details(pk, clients, base_rules):
    """Storage calls pass the pool and volume names: dmd-lab may wipe and
    delete lab-* volumes of pool labpool, and nothing else there."""
    folder = pk.tmp / "labpool"
    folder.mkdir(exist_ok=True)
    a = pk.admin
    pool = a.call(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st", [pool_xml("labpool", folder), 0],
                  reply="(o)")
    lab_vol = a.call(pool, POOL_IFACE, "CreateVolumeXML", "st", [volume_xml("lab-1"), 0], reply="(o)")
    other = a.call(pool, POOL_IFACE, "CreateVolumeXML", "st", [volume_xml("prod-1"), 0], reply="(o)")
    lab = clients["dmd-lab"]
    r = lab.calls([call_spec(lab_vol, VOL_IFACE, "Wipe", "ut", [0, 0])])[0]
    assert r.outcome == OK, r
    r = lab.calls([call_spec(other, VOL_IFACE, "Wipe", "ut", [0, 0])])[0]
    assert_refused(r, A_STORAGE, False, "dmd-lab Wipe prod-1")
    r = lab.calls([call_spec(pool, POOL_IFACE, "Undefine")])[0]
    assert_refused(r, A_STORAGE, False, "dmd-lab Undefine labpool (no volume detail)")
    r = lab.calls([call_spec(lab_vol, VOL_IFACE, "Delete", "t", [0])])[0]
    assert r.outcome == OK, r
    assert not (folder / "lab-1").exists() and (folder / "prod-1").exists()
    a.call(pool, POOL_IFACE, "Undefine")


# ---------------------------------------------------------------------------
# (c) interactive authorization allowed or not


INTERACTIVE_CASES = [
    (A_CONTROL, lambda d: dom_call(d, "Start", "t", [0])),
    (A_DEFINE, lambda d: dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE])),
    (A_SAVE, lambda d: dom_call(d, "ManagedSaveRemove", "t", [0])),
    (A_SNAPSHOT, lambda d: dom_call(d, "CreateSnapshot", "st", ["", 0])),
    (A_MIGRATE, lambda d: dom_call(d, "AbortJob")),
    (A_CONSOLE, lambda d: dom_call(d, "OpenConsole", "st", ["", 0])),
    (A_STORAGE, lambda d: call_spec(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st", ["<pool/>", 0])),
]


@pytest.mark.parametrize("action,make", INTERACTIVE_CASES, ids=[c[0].rsplit(".", 1)[1] for c in INTERACTIVE_CASES])
def test_interactive_flag(clients, base_rules, lab_domains, action, make):
    """auth_admin with no agent: polkit answers with a challenge. Without
    ALLOW_INTERACTIVE_AUTHORIZATION the caller learns it could have been
    asked; with it (polkit found nobody to ask) the answer is AccessDenied."""
    spec = make(lab_domains["prod-1"])
    plain = clients["dmd-plain"]
    r = plain.calls([dict(spec, interactive=False)])[0]
    assert r.error == E_INTERACTIVE, r
    r = plain.calls([dict(spec, interactive=True)])[0]
    assert r.error == E_ACCESS_DENIED, r
    assert action in r.message, r
    # both answered at once, not after a timeout
    assert r.elapsed < 1.0, r


# ---------------------------------------------------------------------------
# (d) polkitd gone or not answering: refused, never a hang; root unaffected


def _unreachable_specs(lab_domains):
    d = lab_domains["prod-1"]
    out = []
    for interactive in (False, True):
        out += [dom_call(d, "Start", "t", [0], interactive=interactive),
                dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE], interactive=interactive),
                dom_call(d, "CreateSnapshot", "st", ["", 0], interactive=interactive),
                call_spec(TEST_HV_PATH, HV_IFACE, "DefineXML", "st", [domain_xml("never-1"), 0],
                          interactive=interactive),
                call_spec(ROOT_PATH, MANAGER_IFACE, "DefinePoolXML", "st", ["<pool/>", 0],
                          interactive=interactive)]
    return out


def _check_unreachable(pk, clients, lab_domains, max_elapsed, min_elapsed=0.0):
    """Every check by dmd-plain and by a new dmd-vm connection, all in
    flight together: AccessDenied naming polkit, within the time limits."""
    d = lab_domains["prod-1"]
    vm = pk.user_client("dmd-vm")  # a new connection: nothing cached for it
    try:
        checked = _unreachable_specs(lab_domains)
        reads = [call_spec(d, PROPS_IFACE, "Get", "ss", [DOMAIN_IFACE, "State"]),
                 call_spec(d, PROPS_IFACE, "GetAll", "s", [DOMAIN_IFACE]),
                 dom_call(d, "GetXMLDesc", "t", [0]),
                 call_spec(TEST_HV_PATH, HV_IFACE, "LookupByName", "s", ["prod-1"])]
        plain = clients["dmd-plain"]
        plain.start_calls(checked)
        vm.start_calls(checked + reads)
        # root does not need polkit
        t = time.monotonic()
        pk.admin.domain(d).start()
        pk.admin.domain(d).destroy()
        assert time.monotonic() - t < 1.0, "root waited for polkit"
        for who, c in (("dmd-plain", plain), ("dmd-vm", vm)):
            res = c.finish_calls()
            for spec, r in zip(checked, res):
                what = f"{who} {spec['method']} interactive={spec['interactive']}"
                assert_polkit_unreachable(r, what)
                assert min_elapsed <= r.elapsed <= max_elapsed, \
                    f"{what}: answered after {r.elapsed:.2f}s"
        # property reads need no polkit; a read method may ask polkit (and
        # then be refused like the others) but answers in time too
        get, get_all, xml, lookup = res[len(checked):]
        assert get.ok and get.elapsed < 1.0, get
        assert get_all.ok and get_all.elapsed < 1.0, get_all
        for r in (xml, lookup):
            assert r.ok or (r.error == E_ACCESS_DENIED and "polkit" in r.message.lower()), r
            assert r.elapsed <= max_elapsed, r
        # nothing happened
        assert pk.admin.domain(d).state == "shutoff"
        assert "never-1" not in {pk.admin.domain(p).name for p in pk.admin.list_domains()}
        assert pk.admin.domain(d).snapshots() == []
    finally:
        vm.close()
        pk.user_clients.remove(vm)


def test_polkitd_not_running(pk, clients, base_rules, lab_domains):
    pk.stop_polkitd()
    _check_unreachable(pk, clients, lab_domains, max_elapsed=POLKIT_TIMEOUT_SEC + 1.0)
    pk.start_polkitd()
    r = clients["dmd-vm"].calls([dom_call(lab_domains["prod-1"], "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert r.ok, r


def test_polkitd_not_answering(pk, clients, base_rules, lab_domains):
    """polkitd holds its name but answers nothing (SIGSTOP): every check
    gives up after PolkitTimeoutSec, in parallel."""
    pk.pause_polkitd()
    _check_unreachable(pk, clients, lab_domains, max_elapsed=POLKIT_TIMEOUT_SEC + 1.0,
                       min_elapsed=POLKIT_TIMEOUT_SEC - 0.5)
    pk.resume_polkitd()
    # the late answers polkitd now sends are ignored; new checks work
    harness.pump(0.2)
    r = clients["dmd-plain"].calls([dom_call(lab_domains["prod-1"], "Start", "t", [0])])[0]
    assert r.error == E_INTERACTIVE, r
    r = clients["dmd-vm"].calls([dom_call(lab_domains["prod-1"], "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert r.ok, r


# ---------------------------------------------------------------------------
# (e) the decision cache


def test_cache_survives_unreachable_polkit(pk, base_rules, lab_domains):
    """A "yes" is remembered per (caller, action, details): the same call on
    the same connection needs no polkit; another domain or method does."""
    vm = pk.user_client("dmd-vm", label="cache-1")
    d1, d2 = lab_domains["det-1"], lab_domains["det-2"]
    secure1 = dom_call(d1, "GetXMLDesc", "t", [F.XML_SECURE])
    r = vm.calls([secure1])[0]
    assert r.ok, r
    pk.pause_polkitd()
    try:
        res = vm.calls([secure1, dom_call(d2, "GetXMLDesc", "t", [F.XML_SECURE]),
                        dom_call(d1, "Undefine", "t", [0])])
    finally:
        pk.resume_polkitd()
    assert res[0].ok and res[0].elapsed < 1.0, res[0]
    assert_polkit_unreachable(res[1], "uncached GetXMLDesc(SECURE) det-2")
    assert_polkit_unreachable(res[2], "uncached Undefine det-1")
    assert pk.admin.lookup("det-1").path == d1


def test_cache_dropped_when_rules_change(pk, base_rules, lab_domains):
    """Rules change → polkitd emits Authority.Changed → the next call of the
    same connection is decided anew; and back."""
    vm = pk.user_client("dmd-vm", label="cache-2")
    d = lab_domains["det-2"]
    a = pk.admin
    a.domain(d).start()
    try:
        calls = [dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE]), dom_call(d, "Reset", "t", [0])]
        for _ in range(2):
            res = vm.calls(calls)
            assert all(r.ok for r in res), res
        before = pk.changed_count
        pk.set_rules(rules(VM_DENY_RULE))
        assert pk.changed_count > before
        # polkit itself now says no (so a yes can only come from a cache)
        assert pk.pk_check(vm.unique_name, A_DEFINE) == (False, False)
        r = vm.calls(calls[:1])[0]
        assert r.error == E_ACCESS_DENIED, (
            f"domaind answered from a cached decision after polkit's Authority.Changed: {r!r}")
        for interactive in (False, True):
            res = vm.calls([dict(c, interactive=interactive) for c in calls])
            # polkit's "no" is a plain refusal, whatever the flag
            assert [r.error for r in res] == [E_ACCESS_DENIED] * 2, res
            assert A_DEFINE in res[0].message and A_CONTROL in res[1].message, res
        pk.set_rules(POLKIT_RULES)
        res = vm.calls(calls)
        assert all(r.ok for r in res), res
    finally:
        a.domain(d).destroy()


# ---------------------------------------------------------------------------
# callers that leave while their check is pending


def test_caller_disconnects_while_pending(pk, clients, base_rules, lab_domains):
    a = pk.admin
    d = lab_domains["lab-2"]
    assert a.domain(d).state == "shutoff"
    leavers = [pk.user_client(who, label=f"leaver-{who}") for who in ("dmd-vm", "dmd-lab", "dmd-plain")]
    # polkitd busy: domaind is waiting for it when the callers leave
    pk.pause_polkitd()
    try:
        for c in leavers:
            c.send_and_close([dom_call(d, "Start", "t", [0]),
                              dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE], interactive=True)])
        harness.pump(0.2)
    finally:
        pk.resume_polkitd()
    # polkitd now answers about callers that are gone
    harness.pump(0.5)
    assert pk.proc.poll() is None, "domaind died"
    # a caller gone before the decision gets nothing done
    assert a.domain(d).state == "shutoff"
    r = clients["dmd-vm"].calls([dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert r.ok, r
    # and without polkitd paused: leave right after sending, many times
    quick = [pk.user_client("dmd-vm" if i % 2 else "dmd-plain", label=f"quick-{i}") for i in range(8)]
    for i, c in enumerate(quick):
        c.send_and_close([dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE]),
                          dom_call(d, "Suspend"),
                          call_spec(TEST_HV_PATH, HV_IFACE, "DefineXML", "st",
                                    [domain_xml(f"gone-{i}"), 0])])
    for c in quick:
        c.close()
    harness.pump(0.3)
    assert pk.proc.poll() is None, "domaind died"
    r = clients["dmd-vm"].calls([dom_call(d, "GetXMLDesc", "t", [F.XML_SECURE])])[0]
    assert r.ok, r
    # a DefineXML by a dmd-vm caller may have been decided before it left
    for i in range(len(quick)):
        try:
            a.lookup(f"gone-{i}").undefine()
        except harness.DBusCallError:
            pass

# SPDX-License-Identifier: LGPL-2.1-or-later
"""The xen plugin on a host without Xen: domaind lists it in
Manager.UnavailablePlugins with libxl's reason, publishes no xen hypervisor,
and serves the others (test, kvm) normally."""

import os
from pathlib import Path

import pytest

from harness import HV_IFACE, DBusCallError, domain_xml, plugin_dir
from kvm_helpers import KVM_HV_PATH, kvm_xml

XEN_HV_PATH = "/org/domaind1/xen"


def xen_host():
    """True on a Xen dom0 (privcmd present): there the plugin opens."""
    return Path("/dev/xen/privcmd").exists() or Path("/proc/xen/privcmd").exists()


@pytest.fixture
def xe(make_env):
    if not (Path(plugin_dir()) / "xen.so").exists():
        pytest.skip("xen plugin not built (no libxenlight)")
    if xen_host():
        pytest.skip("this host runs Xen: the plugin is available here")
    e = make_env(name="xen-unavailable",
                 config_text="[domaind]\nJobWaitTimeoutSec=5\n\n[kvm]\nAccelerator=tcg\n")
    e.start()
    return e


def test_listed_unavailable_with_libxl_reason(xe):
    c = xe.client()
    unavailable = dict(c.manager("UnavailablePlugins"))
    assert "xen" in unavailable, unavailable
    why = unavailable["xen"]
    # libxl's own words, not a bare error code
    assert "libxl" in why and "cannot open libxc handle" in why, why
    assert XEN_HV_PATH not in c.manager("Hypervisors")
    # and logged
    assert "cannot open libxc handle" in xe.log()


def test_no_xen_object(xe):
    c = xe.client()
    with pytest.raises(DBusCallError):
        c.get(XEN_HV_PATH, HV_IFACE, "Name")


def test_test_hypervisor_still_works(xe):
    c = xe.client()
    d = c.define(domain_xml("still-works"))
    d.start()
    assert d.state == "running"
    d.suspend()
    assert d.state == "paused"
    d.destroy()
    assert d.state == "shutoff"
    d.call("Undefine", "t", (0,))


def test_kvm_hypervisor_still_works(xe):
    c = xe.client()
    if KVM_HV_PATH not in c.manager("Hypervisors"):
        pytest.skip("the kvm plugin is not available here: %s"
                    % dict(c.manager("UnavailablePlugins")).get("kvm", "not built"))
    xml, _uuid = kvm_xml("kvm-beside-xen", kernel="/nonexistent/vmlinuz")
    d = c.define(xml, hv=KVM_HV_PATH)
    assert d.state == "shutoff"
    assert d.prop("Name") == "kvm-beside-xen"
    d.call("Undefine", "t", (0,))


def test_xen_xml_refused_by_other_hypervisors(xe):
    """A type='xen' domain has nowhere to go: the test plugin takes it as
    its own (it runs any type), kvm refuses it by type."""
    c = xe.client()
    if KVM_HV_PATH not in c.manager("Hypervisors"):
        pytest.skip("kvm plugin not available")
    xml = (Path(__file__).resolve().parents[1] / "data" / "xen-pv-pygrub.xml").read_text()
    with pytest.raises(DBusCallError) as e:
        c.define(xml, hv=KVM_HV_PATH)
    assert e.value.name == "org.domaind1.Error.InvalidXML", e.value


def test_domaind_stops_cleanly(xe):
    # the fixture's teardown checks the exit status too; here explicitly,
    # after the plugin was loaded, refused and unloaded
    xe.stop()
    assert xe.exit_codes[-1] == 0, xe.exit_codes
    assert os.path.exists(xe.log_path)


def test_domctl_names_the_reason(xe):
    r = xe.domctl("--hypervisor", "xen", "list", "--all")
    assert r.returncode != 0
    assert "hypervisor 'xen' is not available" in r.stderr, r.stderr
    assert "cannot open libxc handle" in r.stderr, r.stderr

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Provisioning paths of the kvm plugin, each with a real guest reading its
marker on the serial console: direct kernel boot, a disk with a bootloader
inside (syslinux), a CD-ROM (isolinux, boot order cdrom before hd), PXE
through QEMU's user network TFTP (pxelinux), <bootloader> pygrub on KVM,
and the KVM accelerator itself (a boot-sector guest: the software-only
/dev/kvm here runs real-mode code but cannot boot Linux).

syslinux, isolinux and pxelinux print their banner on the serial console
(SERIAL 0 in their configuration), so the console tells which one booted.
"""

import os
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from harness import E_HYPERVISOR_FAILED, Recorder, state_of
from kvm_helpers import (BOOT_TIMEOUT, BOOTSECTOR_MARKER, EVENT_TIMEOUT, GUEST_MARKER,
                         KVM_HV_PATH, PXE_TIMEOUT, PYGRUB, Console, dev_kvm_usable, disk_xml,
                         kvm_xml, linux_xml, token)

KVM = KVM_HV_PATH


@pytest.fixture
def kc(kv):
    c = kv.client()
    yield c
    c.close()


def copy_image(kv, src, name=None):
    """A private, writable copy of a shared image."""
    dst = kv.tmp / "images" / (name or src.name)
    dst.parent.mkdir(exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def boot_and_check(kv, kc, xml, u, marker=GUEST_MARKER, timeout=BOOT_TIMEOUT):
    """Defines and starts the guest, waits for marker; returns (domain,
    console log, seconds from Start to the marker)."""
    d = kc.define(xml, hv=KVM)
    log = kv.console_log(u)
    t0 = time.monotonic()
    d.start()
    assert state_of(d) == ("running", "booted")
    t = log.wait(marker, timeout=timeout) - t0
    return d, log, t


def finish(kv, d):
    d.destroy()
    kv.wait_no_qemu(d.uuid)
    d.undefine()


def qemu_argv(kv, u):
    pid = kv.qemu_pid(u)
    assert pid
    return [a.decode() for a in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0") if a]


# ---------------------------------------------------------------------------


def test_direct_kernel_boot(kv, kc, kvm_images):
    xml, u = linux_xml(kvm_images, "prov-kernel", cmdline="console=ttyS0 domaind.test=direct")
    d, log, t = boot_and_check(kv, kc, xml, u)
    print(f"direct kernel boot: marker after {t:.2f}s")
    argv = qemu_argv(kv, u)
    assert str(kvm_images["vmlinuz"]) in argv and str(kvm_images["initrd.img"]) in argv, argv
    assert "console=ttyS0 domaind.test=direct" in argv, argv
    # the ACPI power button reaches this guest
    rec = Recorder(kc)
    d.shutdown()
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    kv.wait_no_qemu(u)
    d.undefine()


def test_disk_boot_syslinux(kv, kc, kvm_images):
    disk = copy_image(kv, kvm_images["disk-syslinux.img"], "syslinux-disk.img")
    xml, u = kvm_xml("prov-disk", boot=["hd"], disks=[disk_xml(disk, dev="vda", bus="virtio")])
    d, log, t = boot_and_check(kv, kc, xml, u)
    print(f"syslinux disk boot: marker after {t:.2f}s")
    assert "SYSLINUX" in log.read(), log.read()[-2000:]
    with Console(d) as con:
        con.echo(token("DISK"))
    finish(kv, d)


@pytest.mark.parametrize("order,banner,other", [
    (("cdrom", "hd"), "ISOLINUX", "SYSLINUX 6"),
    (("hd", "cdrom"), "SYSLINUX 6", "ISOLINUX"),
])
def test_cdrom_boot_order(kv, kc, kvm_images, order, banner, other):
    """boot.iso as a CD-ROM next to the bootable syslinux disk: the boot
    order decides which bootloader runs."""
    disk = copy_image(kv, kvm_images["disk-syslinux.img"], f"disk-{order[0]}.img")
    xml, u = kvm_xml(f"prov-cdrom-{order[0]}", boot=list(order), disks=[
        disk_xml(disk, dev="vda", bus="virtio"),
        disk_xml(kvm_images["boot.iso"], dev="hdc", bus="ide", device="cdrom", readonly=True),
    ])
    d, log, t = boot_and_check(kv, kc, xml, u)
    print(f"boot order {order}: marker after {t:.2f}s")
    text = log.read()
    assert banner in text, f"{banner} did not boot with order {order}:\n{text[-2000:]}"
    assert other not in text, f"{other} booted with order {order}:\n{text[-2000:]}"
    finish(kv, d)


def pxe_interface(tftp_dir, bootfile="pxelinux.0", model="e1000", mac="52:54:00:12:34:56"):
    """A user-network interface with QEMU's TFTP server, through domaind's
    extension of the interface XML (plugins/kvm/kvm-cmdline.c)."""
    return (f"    <interface type='user'>\n"
            f"      <mac address='{mac}'/>\n"
            f"      <model type='{model}'/>\n"
            f"      <domaind:tftp xmlns:domaind='https://domaind.org/xmlns/kvm'"
            f" root='{tftp_dir}' bootfile='{bootfile}'/>\n"
            f"    </interface>")


def test_pxe_boot(kv, kc, kvm_images):
    xml, u = kvm_xml("prov-pxe", boot=["network"], interfaces=[pxe_interface(kvm_images["pxe"])])
    d, log, t = boot_and_check(kv, kc, xml, u, timeout=PXE_TIMEOUT)
    print(f"PXE boot: marker after {t:.2f}s")
    assert "PXELINUX" in log.read(), log.read()[-2000:]
    with Console(d) as con:
        con.echo(token("PXE"))
    finish(kv, d)


def test_pygrub_bootloader(kv, kc, kvm_images):
    """<bootloader> on KVM: pygrub reads grub.cfg on the first disk and the
    kernel it extracts boots (with the arguments of grub.cfg)."""
    if not os.path.exists(PYGRUB):
        pytest.skip(f"{PYGRUB} not installed (xen-utils-4.17)")
    disk = copy_image(kv, kvm_images["pygrub.ext4"])
    xml, u = kvm_xml("prov-pygrub", bootloader=PYGRUB,
                     disks=[disk_xml(disk, dev="vda", bus="virtio")])
    d, log, t = boot_and_check(kv, kc, xml, u)
    print(f"pygrub boot: marker after {t:.2f}s")
    argv = qemu_argv(kv, u)
    i = argv.index("-kernel")
    assert argv[i + 1] != str(kvm_images["vmlinuz"])
    assert "-initrd" in argv, argv
    assert "console=ttyS0 panic=-1" in argv, f"grub.cfg's arguments not passed: {argv}"
    with Console(d) as con:
        con.echo(token("PYGRUB"))
    # the next boot runs pygrub again
    d.destroy()
    mark = log.mark()
    d.start()
    log.wait(GUEST_MARKER, mark)
    finish(kv, d)


def test_pygrub_without_config_fails_cleanly(kv, kc, kvm_images):
    """pygrub on a disk it cannot read: Start fails naming the bootloader,
    no QEMU."""
    if not os.path.exists(PYGRUB):
        pytest.skip(f"{PYGRUB} not installed (xen-utils-4.17)")
    blank = kv.tmp / "images" / "blank.img"
    blank.parent.mkdir(exist_ok=True)
    blank.write_bytes(b"\0" * (1 << 20))
    xml, u = kvm_xml("prov-pygrub-bad", bootloader=PYGRUB,
                     disks=[disk_xml(blank, dev="vda", bus="virtio")])
    d = kc.define(xml, hv=KVM)
    err = d.call_error("Start", "t", (0,))
    assert err.name == E_HYPERVISOR_FAILED, err
    assert "bootloader" in err.message.lower(), err.message
    assert d.state == "shutoff"
    assert kv.qemu_pid(u) is None
    d.undefine()


# ---------------------------------------------------------------------------
# accelerators


# This host's software-only KVM cannot set MSR 0x10a (IA32_ARCH_CAPABILITIES)
# that "-cpu host" asks for: disabling it lets the host CPU model start.
HOST_CPU_WITHOUT_ARCH_CAPS = ("  <cpu mode='host-passthrough'>\n"
                              "    <feature policy='disable' name='arch-capabilities'/>\n"
                              "  </cpu>")


def bootsector_xml(kvm_images, kv, name, dtype, cpu=""):
    disk = copy_image(kv, kvm_images["bootsector.img"], f"{name}.img")
    return kvm_xml(name, dtype=dtype, memory_mib=16, boot=["hd"], cpu=cpu,
                   disks=[disk_xml(disk, dev="hda", bus="ide")])


@pytest.fixture
def kvm_accel_env(make_kvm_env):
    ok, why = dev_kvm_usable()
    if not ok:
        pytest.skip(f"KVM path not tested: {why}")
    env = make_kvm_env(accelerator="kvm", name="kvm-accel")
    env.start()
    return env


def test_kvm_accelerator_bootsector(kvm_accel_env, kvm_images):
    """Accelerator=kvm and <domain type='kvm'>: the boot-sector guest runs
    under /dev/kvm; its console protocol, ACPI power-off, reboot, reset,
    suspend/resume all work through the KVM path."""
    env = kvm_accel_env
    c = env.client()
    caps = ET.fromstring(c.hv_call("GetCapabilities", None, (), "(s)", hv=KVM))
    assert "kvm" in {e.get("type") for e in caps.findall("./guest/arch/domain")}
    rec = Recorder(c)
    xml, u = bootsector_xml(kvm_images, env, "bootsector-kvm", "kvm", HOST_CPU_WITHOUT_ARCH_CAPS)
    d, log, t = boot_and_check(env, c, xml, u, marker=BOOTSECTOR_MARKER)
    print(f"KVM boot sector: marker after {t:.2f}s")
    argv = qemu_argv(env, u)
    joined = " ".join(argv)
    assert "accel=kvm" in joined or "-enable-kvm" in argv or "-accel kvm" in joined, argv
    assert "tcg" not in joined, argv
    with Console(d) as con:
        con.drain(0.2)
        con.echo(token("KVM"))
        d.suspend()
        t1 = token("KVMPAUSED")
        con.command(f"echo {t1}")
        assert t1.encode() not in con.drain(0.5)
        d.resume()
        con.expect(t1, 10)
        mark = log.mark()
        d.reset()
        log.wait(BOOTSECTOR_MARKER, mark)
        mark = log.mark()
        con.command("reboot")
        log.wait(BOOTSECTOR_MARKER, mark)
        con.echo(token("KVMREBOOTED"))
    assert d.state == "running"
    assert [e for e in rec.domain_events(d.path) if e[0] not in ("suspended", "resumed", "defined",
                                                                  "started")] == []
    rec.clear()
    d.shutdown()
    rec.wait_events(d.path, [("shutdown", "finished"), ("stopped", "shutdown")], EVENT_TIMEOUT)
    env.wait_no_qemu(u)
    # and once more, ended by Destroy
    d.start()
    log.wait(BOOTSECTOR_MARKER, 0)
    d.destroy()
    env.wait_no_qemu(u)


def test_kvm_default_cpu(kvm_accel_env, kvm_images):
    """A <domain type='kvm'> without <cpu> (libvirt's default: QEMU's default
    model) starts under KVM here too."""
    env = kvm_accel_env
    c = env.client()
    xml, u = bootsector_xml(kvm_images, env, "bootsector-kvm-defcpu", "kvm")
    d, log, t = boot_and_check(env, c, xml, u, marker=BOOTSECTOR_MARKER)
    d.destroy()
    env.wait_no_qemu(u)


def test_auto_accelerator(make_kvm_env, kvm_images):
    """Accelerator=auto takes KVM only with hardware virtualization (vmx/svm)
    and a /dev/kvm that opens; here that means TCG."""
    cpuinfo = open("/proc/cpuinfo").read().split()
    want = "kvm" if dev_kvm_usable()[0] and ("vmx" in cpuinfo or "svm" in cpuinfo) else "tcg"
    env = make_kvm_env(accelerator="auto", name="kvm-auto")
    env.start()
    c = env.client()
    xml, u = bootsector_xml(kvm_images, env, "bootsector-auto", "qemu")
    d, log, t = boot_and_check(env, c, xml, u, marker=BOOTSECTOR_MARKER)
    joined = " ".join(qemu_argv(env, u))
    if want == "tcg":
        assert "accel=tcg" in joined or "-accel tcg" in joined, joined
    else:
        assert "accel=kvm" in joined or "-enable-kvm" in joined or "-accel kvm" in joined, joined
    d.destroy()
    env.wait_no_qemu(u)

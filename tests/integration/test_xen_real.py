# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real Xen, end to end (tests/xen/): Xen 4.17 + a Debian 12 PV dom0 boot
under qemu-system-x86_64 -accel tcg -cpu max, and in dom0 one PV guest
(pygrub) goes through

  xl:      create -> marker -> pause/unpause -> save/restore -> shutdown
           (Xen itself works: tells a broken plugin from a broken setup)
  domaind: DefineXML -> Start -> marker -> Suspend -> Resume -> Save ->
           Restore -> CPUTime grows -> OpenConsole echo -> Shutdown ->
           Undefine, then the DomainEvent sequence and a clean exit
           (the build's domaind + xen plugin on a private bus in dom0)

One VM run (module fixture) serves every test below; each test checks one
step's `XEN-E2E step=NAME result=ok|fail detail=...` line from the serial
console.  The run is capped (DOMAIND_XEN_E2E_TIMEOUT, default 900 s) and
retried once when it produced no DONE line (timeout, boot failure), never
for a failed step.  Skips with the reason when the dom0 image cannot be
built (not root, no mmdebstrap, no package mirror) or QEMU is missing;
DOMAIND_XEN_E2E=0 skips it on purpose.

domaind in dom0 must not be a sanitizer build (dom0 has no libasan): when
$DOMAIND_BUILD_DIR is one (build-ci), a plain build is configured in
$DOMAIND_BUILD_DIR/xen-e2e/build (or DOMAIND_XEN_E2E_BUILD_DIR is used).
The dom0 image is cached in $DOMAIND_BUILD_DIR/xen-e2e/dom0-KEY (cold build
~1.5 min; KEY hashes tests/xen/build-dom0 and the package versions).
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO_ROOT, build_dir

XL_STEPS = ["xen-start", "xl-create", "xl-marker", "xl-pause", "xl-save", "xl-restore",
            "xl-shutdown"]
DOMAIND_STEPS = ["domaind-start", "define", "start", "marker", "domctl", "suspend", "resume", "save",
                 "restore", "alive", "console", "restart", "reboot", "shutdown", "managed-save",
                 "destroy", "undefine", "events",
                 "domaind-exit"]

LINE_RE = re.compile(r"^XEN-E2E step=(\S+) result=(ok|fail) detail=(.*)$")
DONE_RE = re.compile(r"^XEN-E2E DONE passed=(\d+) failed=(\d+)")


def _timeout():
    return int(os.environ.get("DOMAIND_XEN_E2E_TIMEOUT", "900"))


def _sanitized(binary):
    r = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    return "libasan" in r.stdout or "libubsan" in r.stdout


def _plain_build(outer):
    """A build dir whose domaind runs in dom0 (no sanitizers)."""
    d = os.environ.get("DOMAIND_XEN_E2E_BUILD_DIR")
    if d:
        p = Path(d)
        return p if p.is_absolute() else REPO_ROOT / p
    if (outer / "service" / "domaind").exists() and not _sanitized(outer / "service" / "domaind"):
        return outer
    plain = outer / "xen-e2e" / "build"
    if not (plain / "build.ninja").exists():
        shutil.rmtree(plain, ignore_errors=True)
        plain.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["meson", "setup", "--buildtype=debugoptimized", str(plain)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.fail(f"meson setup {plain} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}",
                        pytrace=False)
    targets = ["service/domaind", "tools/domctl"]
    r = subprocess.run(["ninja", "-C", str(plain)], capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        pytest.fail(f"ninja -C {plain} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}",
                    pytrace=False)
    for t in targets:
        if not (plain / t).exists():
            pytest.fail(f"{plain / t} was not built", pytrace=False)
    return plain


class XenRun:
    def __init__(self, build, work, scenarios):
        self.build = build
        self.scenarios = scenarios
        self.steps = {}
        self.done = None
        self.output = ""
        self.attempts = []   # (seconds, exit status)
        self.run_dir = work / "run"

    def logs(self):
        d = self.run_dir / "logs"
        out = []
        for name in ("domaind.log", "scenario.log", "dbus-daemon.log", "xen-start.log"):
            p = d / name
            if p.exists():
                out.append((name, p.read_text(errors="replace")[-6000:]))
        for p in sorted((d / "xen").glob("*.log")) if (d / "xen").exists() else []:
            out.append((f"xen/{p.name}", p.read_text(errors="replace")[-3000:]))
        return out


def _attempt(build, work, scenarios, images):
    argv = [str(REPO_ROOT / "tests" / "xen" / "run"), "--scenarios", scenarios,
            "--timeout", str(_timeout()), "--images", str(images), "--work", str(work),
            str(build)]
    t = time.monotonic()
    # own process group: everything it starts is killed with it
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=_timeout() + 900)  # + dom0 image build
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, _ = p.communicate()
        return 2, out + "\n(tests/xen/run killed: took too long)", time.monotonic() - t
    finally:
        try:
            os.killpg(p.pid, 9)  # leftovers of the group, if any
        except ProcessLookupError:
            pass
    return p.returncode, out, time.monotonic() - t


def _say(request, text):
    """Prints past pytest's capture (the run time belongs in every log)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman:
        with capman.global_and_fixture_disabled():
            print(text, flush=True)
    else:
        print(text, flush=True)


@pytest.fixture(scope="module")
def xen_run(request):
    if os.environ.get("DOMAIND_XEN_E2E", "1") == "0":
        pytest.skip("DOMAIND_XEN_E2E=0")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if os.geteuid() != 0:
        pytest.skip("the dom0 image needs root (mmdebstrap)")
    outer = build_dir()
    build = _plain_build(outer)
    images = outer / "test-images"
    scenarios = os.environ.get("DOMAIND_XEN_E2E_SCENARIOS")
    if not scenarios:
        scenarios = "xl domaind" if (build / "plugins" / "xen.so").exists() else "xl"
    work = outer / "xen-e2e"
    run = XenRun(build, work, scenarios)
    t0 = time.monotonic()
    for attempt in (1, 2):
        rc, out, dt = _attempt(build, work, scenarios, images)
        run.attempts.append((round(dt), rc))
        run.output = out
        _say(request, f"\n--- tests/xen/run attempt {attempt}: exit {rc} after {dt:.0f}s ---\n"
             + "\n".join(ln for ln in out.splitlines()
                         if ln.startswith(("XEN-E2E step", "XEN-E2E DONE", "=== time", "run:",
                                           "build-dom0:"))
                         and not ln.startswith("run: live:")))
        if rc == 77:
            reason = [ln for ln in out.splitlines() if "SKIP" in ln]
            pytest.skip("real-Xen test: " + (reason[-1] if reason else "dom0 image cannot be built"))
        if rc != 2:
            break
    for line in run.output.splitlines():
        m = LINE_RE.match(line.strip())
        if m:
            run.steps[m.group(1)] = (m.group(2), m.group(3))
        m = DONE_RE.match(line.strip())
        if m:
            run.done = (int(m.group(1)), int(m.group(2)))
    _say(request, f"real-Xen e2e: {time.monotonic() - t0:.0f}s in all, attempts {run.attempts}, "
          f"scenarios {scenarios!r}, build {build}")
    return run


def _check(run, step):
    if run.done is None:
        pytest.fail(f"the Xen VM run produced no DONE line (attempts {run.attempts}):\n"
                    f"{run.output[-6000:]}", pytrace=False)
    if step not in run.steps:
        pytest.fail(f"no result line for step {step!r} (got {sorted(run.steps)})", pytrace=False)
    res, detail = run.steps[step]
    if res != "ok":
        msg = f"step {step} failed: {detail}"
        for name, text in run.logs():
            msg += f"\n--- dom0 {name} (tail) ---\n{text}"
        pytest.fail(msg, pytrace=False)


@pytest.mark.parametrize("step", XL_STEPS)
def test_xl(xen_run, step):
    if "xl" not in xen_run.scenarios.split() and step != "xen-start":
        pytest.skip("xl scenario not run")
    _check(xen_run, step)


@pytest.mark.parametrize("step", DOMAIND_STEPS)
def test_domaind(xen_run, step):
    if "domaind" not in xen_run.scenarios.split():
        pytest.skip(f"xen plugin not built ({xen_run.build / 'plugins' / 'xen.so'}): "
                    "domaind scenario not run")
    _check(xen_run, step)

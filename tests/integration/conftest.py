# SPDX-License-Identifier: LGPL-2.1-or-later
"""pytest fixtures for the domaind integration tests.

  env          a fresh private bus + domaind (test plugin) per test
  make_env     factory for environments a test configures itself (plugin
               dir, config) before starting them
  c            a client connection on env's bus
  rec          a Recorder of domaind's signals on c
  polkit_env   (module scope) domaind behind a real polkitd on a system-like
               bus, with test users (polkit_harness.PolkitEnv); skips when
               the host cannot run it (not root, no polkitd, no mounts)
  pk           polkit_env for one test (its logs go into failure reports)
  kvm_images   (session scope) the guest images of tests/images/build, built
               once into $DOMAIND_BUILD_DIR/test-images (kvm_helpers.images)
  kvm_env      (module scope) domaind with the kvm plugin ([kvm]
               Accelerator=tcg, or $DOMAIND_TEST_ACCEL, or the module's
               KVM_ACCEL); at teardown every kvm domain is destroyed and no
               QEMU of its folder may survive (kvm_helpers.KvmEnv)
  kv           kvm_env for one test (its logs go into failure reports)
  make_kvm_env factory for KvmEnvs a test configures itself (accelerator...)

Every environment is torn down even when the test fails: helper processes
are killed, domaind gets SIGTERM and must exit 0 within a few seconds
(otherwise the test errors in teardown), the bus is stopped. When a test
fails, domaind's log is attached to the report.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import DomaindEnv, Recorder  # noqa: E402


def pytest_report_header(config):
    return [f"domaind: {harness.domaind_binary()}",
            f"plugins: {harness.plugin_dir()}",
            f"domctl:  {harness.domctl_binary()}"]


def _envs(item):
    if not hasattr(item, "_domaind_envs"):
        item._domaind_envs = []
    return item._domaind_envs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for e in _envs(item):
            rep.sections.append((f"domaind log ({e.name}, {e.tmp})",
                                 harness.read_log_tail(e.log_path, 400)))
            for title, path in getattr(e, "extra_logs", lambda: [])():
                rep.sections.append((f"{title} ({e.name})", harness.read_log_tail(path, 100)))


def _new_env(request, env_class=DomaindEnv, **kw):
    e = env_class(**kw)
    _envs(request.node).append(e)

    def fin():
        problems = e.close()
        failed = any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
                     for w in ("setup", "call"))
        if not problems and not failed:
            e.remove_tmp()
        if problems:
            pytest.fail("unclean domaind shutdown: " + "; ".join(problems)
                        + "\n--- domaind log ---\n" + harness.read_log_tail(e.log_path, 200),
                        pytrace=False)
    request.addfinalizer(fin)
    return e


@pytest.fixture
def make_env(request):
    """make_env(name=..., plugin_dir_override=..., config_text=...) -> an
    environment that is not started yet (call .start())."""
    def make(**kw):
        return _new_env(request, **kw)
    return make


@pytest.fixture
def env(request):
    e = _new_env(request, name="env")
    e.start()
    return e


@pytest.fixture
def c(env):
    return env.client()


@pytest.fixture
def rec(c):
    r = Recorder(c)
    return r


# ---------------------------------------------------------------------------
# polkit (tests/integration/polkit_harness.py)


@pytest.fixture(scope="module")
def polkit_env(request):
    """One PolkitEnv per test module: system-like bus, polkitd (started
    with the rules the module's POLKIT_RULES names, default none), domaind.
    Tests that change rules or stop polkitd put them back."""
    import polkit_harness
    try:
        polkit_harness.check_prerequisites()
    except polkit_harness.Unavailable as e:
        pytest.skip(f"polkit tests skipped: {e}")
    e = polkit_harness.PolkitEnv(name="polkit")
    failed = []
    e.module_failed = failed
    try:
        e.write_rules(getattr(request.module, "POLKIT_RULES", ""))
        e.start_all()
    except polkit_harness.Unavailable as ex:
        e.close(check_exit=False)
        e.remove_tmp()
        pytest.skip(f"polkit tests skipped: {ex}")
    except BaseException:
        problems = e.close(check_exit=False)
        sys.stderr.write(f"polkit env setup failed; kept {e.tmp} {problems}\n")
        raise
    yield e
    problems = e.close()
    if not problems and not failed:
        e.remove_tmp()
    if problems:
        pytest.fail("unclean shutdown of the polkit environment: " + "; ".join(problems)
                    + "\n--- domaind log ---\n" + harness.read_log_tail(e.log_path, 200),
                    pytrace=False)


@pytest.fixture
def pk(request, polkit_env):
    _envs(request.node).append(polkit_env)
    assert polkit_env.proc is not None and polkit_env.proc.poll() is None, \
        "domaind is not running (it died in an earlier test of this module)"
    yield polkit_env
    rc = polkit_env.proc.poll() if polkit_env.proc is not None else "not started"
    if rc is not None:
        polkit_env.module_failed.append(request.node.nodeid)
        pytest.fail(f"domaind died during this test (exit {rc}):\n"
                    + harness.read_log_tail(polkit_env.log_path, 100), pytrace=False)
    if any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
           for w in ("setup", "call")):
        polkit_env.module_failed.append(request.node.nodeid)


# ---------------------------------------------------------------------------
# kvm (tests/integration/kvm_helpers.py)


@pytest.fixture(scope="session")
def kvm_images():
    import kvm_helpers
    kvm_helpers.require_kvm_plugin()
    return kvm_helpers.images()


@pytest.fixture
def make_kvm_env(request, kvm_images):
    """make_kvm_env(accelerator=..., config_text=...) -> a KvmEnv, not started."""
    import kvm_helpers

    def make(**kw):
        kw.setdefault("name", "kvm-test")
        return _new_env(request, env_class=kvm_helpers.KvmEnv, **kw)
    return make


@pytest.fixture(scope="module")
def kvm_env(request, kvm_images):
    """One domaind with the kvm plugin per test module."""
    import kvm_helpers
    e = kvm_helpers.KvmEnv(name="kvm", accelerator=getattr(request.module, "KVM_ACCEL", None))
    failed = []
    e.module_failed = failed
    try:
        e.start()
    except BaseException:
        problems = e.close(check_exit=False)
        sys.stderr.write(f"kvm env setup failed; kept {e.tmp} {problems}\n")
        raise
    yield e
    problems = e.close()
    if not problems and not failed:
        e.remove_tmp()
    if problems:
        pytest.fail("unclean teardown of the kvm environment: " + "; ".join(problems)
                    + "\n--- domaind log ---\n" + harness.read_log_tail(e.log_path, 200),
                    pytrace=False)


@pytest.fixture
def kv(request, kvm_env):
    _envs(request.node).append(kvm_env)
    if kvm_env.proc is None or kvm_env.proc.poll() is not None:
        pytest.fail("domaind is not running (it died in an earlier test of this module):\n"
                    + harness.read_log_tail(kvm_env.log_path, 100), pytrace=False)
    yield kvm_env
    rc = kvm_env.proc.poll() if kvm_env.proc is not None else "not started"
    if rc is None:
        kvm_env.destroy_all(keep=kvm_env.keep)  # what the test left running
    if rc is not None:
        kvm_env.module_failed.append(request.node.nodeid)
        pytest.fail(f"domaind died during this test (exit {rc}):\n"
                    + harness.read_log_tail(kvm_env.log_path, 100), pytrace=False)
    if any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
           for w in ("setup", "call")):
        kvm_env.module_failed.append(request.node.nodeid)

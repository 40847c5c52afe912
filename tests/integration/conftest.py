# SPDX-License-Identifier: LGPL-2.1-or-later
"""pytest fixtures for the domaind integration tests.

  env          a fresh private bus + domaind (test plugin) per test
  make_env     factory for environments a test configures itself (plugin
               dir, config) before starting them
  c            a client connection on env's bus
  rec          a Recorder of domaind's signals on c

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


def _new_env(request, **kw):
    e = DomaindEnv(**kw)
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

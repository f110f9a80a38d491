"""Hypothesis profiles and pytest hooks. Shared helpers and tolerances live in helpers.py."""

import os

import pytest
from hypothesis import settings

# Hypothesis: 60 examples per property by default. CI runs the same examples every time;
# local runs keep exploring new ones; `pytest --hypothesis-profile=thorough` runs 2,000.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_configure(config):
    # fastnn.CompileWarning is issued once per process, by whatever compiles first: tests
    # that count warnings must not meet it by chance. Its own test runs in a fresh process.
    from fastnn._kernels import compile

    compile.compilations.notified = True
    # pytest-benchmark's benchmarks only smoke-run (one call each) unless --benchmark-enable
    # or --benchmark-only asks for timings. Set here rather than as --benchmark-disable in
    # addopts, which is an unknown option where pytest-benchmark is not installed. The
    # plugin reads the option in its own pytest_configure, which runs after this one.
    if config.pluginmanager.hasplugin("benchmark"):
        if not (config.getoption("benchmark_enable") or config.getoption("benchmark_only")):
            config.option.benchmark_disable = True


@pytest.fixture(autouse=True)
def _quiet_machine(request, monkeypatch):
    """fastnn reads as a quiet machine, whatever else runs (the other pytest-xdist worker).

    How many BLAS threads a product gets depends on the load (`fastnn._blas_threads`),
    and a product's last bits on the thread count: tests that compare bits between calls
    must not see the load change between them. Tests of the load reading itself are
    marked `machine_load`.
    """
    if request.node.get_closest_marker("machine_load") is None:
        from fastnn import _blas_threads

        monkeypatch.setattr(_blas_threads, "busy_cores", lambda: 0)

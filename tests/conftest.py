"""Shared fixtures: run layer tests on every usable backend, and report gradient-check errors.

Backends: numpy always; cupy when CuPy is installed and a GPU is usable
(skipped otherwise, with the reason); array_api_strict when installed (it
is in requirements-test.txt, so CI always runs it).
"""
import pytest

from nn import backend

_errors = {}   # (backend, layer case, gradient) -> relative error


@pytest.fixture(params=list(backend.BACKENDS))
def xp_backend(request):
    """Activate each backend in turn for one test; put numpy back afterwards."""
    ok, reason = backend.available(request.param)
    if not ok:
        pytest.skip(reason)
    backend.use(request.param)
    backend.seed(0)
    yield request.param
    backend.use("numpy")


@pytest.fixture
def record_error():
    """record_error(case, {grad name: rel error}) keeps the figures for the end-of-run table."""
    def record(case, errors):
        for name, err in errors.items():
            print(f"{backend.name():16s} {case:40s} d{name:14s} rel error {err:.2e}")
            _errors[(backend.name(), case, name)] = err
    return record


def pytest_terminal_summary(terminalreporter):
    if not _errors:
        return
    tr = terminalreporter
    tr.section("gradient checks: relative error, float64 (worst per case)")
    worst = {}
    for (be, case, _), err in _errors.items():
        worst[(be, case)] = max(err, worst.get((be, case), 0.0))
    for (be, case), err in sorted(worst.items()):
        tr.write_line(f"{be:16s} {case:44s} {err:.1e}")

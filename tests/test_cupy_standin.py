"""The CuPy stand-ins themselves: present in CI, and really cut down to a CuPy release's names."""
import os

import pytest

from nn import backend
from tests import cupy_standin
from tests.conftest import CUPY_RELEASES

releases = list(CUPY_RELEASES.values())
need_wheels = pytest.mark.skipif(not releases, reason=f"no CuPy wheel named by {cupy_standin.ENV} (see .ci/run)")


def test_ci_checks_the_oldest_supported_and_a_current_cupy():
    """In CI the stand-ins must exist: without them the CuPy check would silently skip."""
    if not os.environ.get("CI"):
        pytest.skip("outside CI the CuPy wheels are optional")
    versions = [backend.parse_release(r["version"]) for r in releases]
    assert versions, f"CI must name CuPy wheels in {cupy_standin.ENV}"
    assert min(versions) == backend.MIN_CUPY, f"the oldest CuPy checked is {min(versions)}, not {backend.MIN_CUPY}"
    assert max(versions) >= (14, 1), "the newest CuPy checked should be a current release"


@need_wheels
def test_stand_in_has_only_cupys_names():
    oldest = cupy_standin.numpy_as_cupy(releases[0])
    assert hasattr(oldest, "matmul") and hasattr(oldest.random, "seed")
    if backend.parse_release(releases[0]["version"]) < (14, 1):
        assert not hasattr(oldest, "matrix_transpose"), "NumPy has it, CuPy 14.0 does not: the stand-in must not"


@need_wheels
@pytest.mark.parametrize("names", releases, ids=[r["version"] for r in releases])
def test_a_name_cupy_lacks_fails_on_the_stand_in(names):
    """What turns CI red: reaching for a function CuPy does not have."""
    with backend.stand_in("cupy", cupy_standin.numpy_as_cupy(names)):
        xp = backend.use("cupy")
        try:
            assert hasattr(xp, "permute_dims") and hasattr(xp, "reshape")
            with pytest.raises(AttributeError):
                xp.busday_count                     # noqa: B018 -- NumPy calendar maths: in no CuPy
        finally:
            backend.use("numpy")

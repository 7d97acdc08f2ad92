"""PyTorch's own distributed test suite (DistributedTest._DistTestBase) over a backend.

torch ships the suite (torch/testing/_internal/distributed/distributed_test.py)
but not the file that runs it (test/distributed/test_distributed_spawn.py), so
this module is our runner: it sets the environment the suite reads at import
(BACKEND, WORLD_SIZE, TEMP_DIR, INIT_METHOD), tells the suite's feature sets
about dlcoll, and defines TestDistBackendWithSpawn, whose setUp spawns one
process per rank (MultiProcessTestCase).  Spawned ranks import this module
again, so they register dlcoll too.

Run with pytest (scripts/torch-dist-suite.sh does, and writes the table):
    BACKEND=dlcoll PYTHONPATH=build/python python -m pytest tests/python/dist_suite/run_dist_suite.py
Environment: BACKEND (dlcoll or gloo; default dlcoll), WORLD_SIZE (default 3),
DIST_SUITE_TIMEOUT (seconds per test, default 300; caps torch's overrides too).
"""
import os
import sys
import tempfile

os.environ.setdefault("BACKEND", "dlcoll")
os.environ.setdefault("WORLD_SIZE", "3")
os.environ.setdefault("INIT_METHOD", "env://")
# The suite's per-test limit (torch reads it at import of common_distributed).
_TIMEOUT = int(os.environ.setdefault("DIST_SUITE_TIMEOUT", "300"))
os.environ["DISTRIBUTED_TESTS_DEFAULT_TIMEOUT"] = str(_TIMEOUT)
# One TEMP_DIR for the whole run: the spawned ranks inherit it.
if "TEMP_DIR" not in os.environ:
    os.environ["TEMP_DIR"] = tempfile.mkdtemp(prefix="dlcoll-dist-suite-")
# CPU only: with fewer GPUs than ranks the suite skips every test.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

BACKEND = os.environ["BACKEND"]

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

if BACKEND == "dlcoll":
    import dlcoll.torch  # noqa: E402,F401  registers the backend (parent and every rank)

from torch.testing._internal import common_distributed  # noqa: E402
from torch.testing._internal.common_distributed import DistTestCases  # noqa: E402

if BACKEND == "dlcoll":
    # What dlcoll implements, in the suite's terms; the decorators read these
    # sets when distributed_test is imported, so this comes first.
    #   plugin: a registered third-party backend (require_backend_is_available)
    #   ddp: DistributedDataParallel on CPU tensors (allreduce, broadcast)
    #   subgroup: new_group()
    # Not "gpu"/"cuda": dlcoll.torch takes CPU tensors only.
    for feature in ("plugin", "ddp", "subgroup"):
        DistTestCases.backend_feature.setdefault(feature, set()).add("dlcoll")

# No per-test limit above ours (torch gives a few tests up to 400 s).
for _name, _limit in list(common_distributed.TIMEOUT_OVERRIDE.items()):
    common_distributed.TIMEOUT_OVERRIDE[_name] = min(_limit, _TIMEOUT)
common_distributed.TIMEOUT_DEFAULT = _TIMEOUT

from torch.testing._internal.distributed import distributed_test  # noqa: E402
from torch.testing._internal.distributed.distributed_test import (  # noqa: E402
    DistributedTest,
    TestDistBackend,
)
from torch.testing._internal.common_utils import run_tests  # noqa: E402

assert distributed_test.BACKEND == BACKEND


class TestDistBackendWithSpawn(TestDistBackend, DistributedTest._DistTestBase):
    def setUp(self):
        super().setUp()
        self._spawn_processes()


if __name__ == "__main__":
    sys.exit(run_tests())

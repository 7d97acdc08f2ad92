"""One rank of the wheel test (scripts/test-wheel.sh): torch 2.x finds the
"dlcoll" backend through the wheel's torch.distributed.backends entry point.

Run under dlcoll-run with nothing else in the environment: no
`import dlcoll`, no DLCOLL_PLUGIN, no PYTHONPATH.  Checks every gathered
element and that the plugin came from the installed package.
"""
import os
import sys

import torch
import torch.distributed as dist

assert "dlcoll" not in sys.modules, "dlcoll was imported before init_process_group"
for var in ("DLCOLL_PLUGIN", "PYTHONPATH", "LD_LIBRARY_PATH"):
    assert var not in os.environ, f"{var} is set: the test must run without it"

dist.init_process_group("dlcoll")  # env:// from the launcher's RANK, WORLD_SIZE, MASTER_*
rank, size = dist.get_rank(), dist.get_world_size()
assert dist.get_backend() == "dlcoll", dist.get_backend()
assert "dlcoll.torch" in sys.modules, "the backend was registered without dlcoll.torch?"

import dlcoll.torch  # noqa: E402  (already loaded by the entry point; for its paths)

plugin = os.path.realpath(dlcoll.torch.plugin_file())
package = os.path.realpath(os.path.dirname(dlcoll.__file__))
assert plugin == os.path.join(package, "lib", "libdlcoll.so"), (plugin, package)
assert "site-packages" in package, package

t = torch.arange(1000, dtype=torch.float32) + 1000 * rank
out = [torch.empty(1000) for _ in range(size)]
dist.all_gather(out, t)
for r in range(size):
    want = torch.arange(1000, dtype=torch.float32) + 1000 * r
    assert torch.equal(out[r], want), f"rank {rank}: block {r} is wrong"
cat = torch.empty(size * 1000)
dist.all_gather_into_tensor(cat, t)
assert torch.equal(cat, torch.arange(size * 1000, dtype=torch.float32)), f"rank {rank}: concat"
dist.barrier()
dist.destroy_process_group()
print(f"rank {rank}/{size}: init_process_group('dlcoll') with no import: all_gather and "
      f"all_gather_into_tensor checked; torch {torch.__version__}, plugin {plugin}", flush=True)

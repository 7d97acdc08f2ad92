"""4 ranks gathering tensors in MindSpore Graph mode through dlcoll.

Each rank builds a small (2, 3) "embedding" block filled with its rank, and a
Graph-mode cell gathers every rank's block (dlcoll AllGather, an AOT custom
op), scales it, and gathers a per-rank subgroup result as well.  Rank 0
prints the result; every rank checks it.

Started by hand with MindSpore's launcher environment, like msrun does: one
scheduler process (MS_ROLE=MS_SCHED: its init() serves the rendezvous and
exits when the workers are done) and four workers:

    export MS_WORKER_NUM=4 MS_SCHED_HOST=127.0.0.1 MS_SCHED_PORT=8118 \
           DLCOLL_PLUGIN=build/lib/libdlcoll.so PYTHONPATH=python
    PY=~/.cache/dlcoll/venv-mindspore/bin/python
    MS_ROLE=MS_SCHED $PY examples/mindspore_allgather.py &
    for r in 0 1 2 3; do MS_ROLE=MS_WORKER MS_NODE_ID=$r $PY examples/mindspore_allgather.py & done
    wait

or with dlcoll's launcher (which sets DLCOLL_RANK / DLCOLL_WORLD_SIZE / ...):

    build/bin/dlcoll-run -n 4 -- env DLCOLL_PLUGIN=build/lib/libdlcoll.so PYTHONPATH=python \
      ~/.cache/dlcoll/venv-mindspore/bin/python examples/mindspore_allgather.py
"""
import numpy as np
import mindspore as ms
from mindspore import nn

from dlcoll import mindspore as comm


class GatherNet(nn.Cell):
    """Gather over the world, then over a group, in one compiled graph."""

    def __init__(self, group):
        super().__init__()
        self.world_gather = comm.AllGather()
        self.group_gather = comm.AllGather(group)

    def construct(self, x):
        everyone = self.world_gather(x) * 10          # (N*2, 3)
        return everyone, self.group_gather(x)         # (G*2, 3)


def main():
    ms.set_context(mode=ms.GRAPH_MODE)
    comm.init()
    rank, world = comm.get_rank(), comm.get_group_size()
    # Two groups: even and odd world ranks (group rank = index in the list).
    evens, odds = list(range(0, world, 2)), list(range(1, world, 2))
    comm.create_group("evens", evens)
    if odds:
        comm.create_group("odds", odds)
    mine = "evens" if rank % 2 == 0 else "odds"
    members = evens if rank % 2 == 0 else odds

    x = ms.Tensor(np.full((2, 3), rank, np.float32))
    everyone, group = GatherNet(mine)(x)

    want_all = np.concatenate([np.full((2, 3), r, np.float32) for r in range(world)]) * 10
    want_group = np.concatenate([np.full((2, 3), r, np.float32) for r in members])
    assert np.array_equal(everyone.asnumpy(), want_all), everyone
    assert np.array_equal(group.asnumpy(), want_group), group
    if rank == 0:
        print(f"world gather ({world} ranks, x10):\n{everyone.asnumpy()}")
        print(f"group '{mine}' {members} gather:\n{group.asnumpy()}")
    print(f"rank {rank}: ok")
    comm.release()


if __name__ == "__main__":
    main()

"""Gather embeddings from all ranks with the dlcoll PyTorch backend.

    build/bin/dlcoll-run -n 4 -- env PYTHONPATH=build/python \
        python3 examples/torch_gather_embeddings.py
    # or: PYTHONPATH=build/python torchrun --nproc-per-node=4 examples/torch_gather_embeddings.py

Each rank embeds its own shard of a toy vocabulary (a rank-local
nn.Embedding applied to that rank's token ids), then the ranks exchange the
results three ways: all_gather into a list, all_gather_into_tensor into one
(world, batch, dim) tensor, and all_gather_object for the token strings.  A
subgroup of the even ranks gathers too.  Every rank checks what it received
against the values it can recompute for every other rank, and rank 0 prints
a nearest-neighbour table over the full gathered set.
"""
import datetime
import os

os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import dlcoll.torch  # noqa: E402,F401  (registers "dlcoll")

BATCH, DIM, VOCAB = 4, 8, 100


def shard(rank):
    """Rank rank's token ids and embedding table (deterministic, so every
    rank can recompute any other rank's result to check it)."""
    g = torch.Generator().manual_seed(1234 + rank)
    ids = torch.randint(0, VOCAB, (BATCH,), generator=g)
    table = torch.nn.Embedding(VOCAB, DIM)
    with torch.no_grad():
        table.weight.copy_(torch.randn(VOCAB, DIM, generator=g))
        return ids, table(ids)


def main():
    dist.init_process_group("dlcoll", init_method="env://",
                            timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    ids, emb = shard(rank)

    # 1. list output: one (BATCH, DIM) tensor per rank
    parts = [torch.empty(BATCH, DIM) for _ in range(world)]
    dist.all_gather(parts, emb)
    # 2. one stacked tensor, asynchronously, while we gather the tokens
    stacked = torch.empty(world, BATCH, DIM)
    work = dist.all_gather_into_tensor(stacked, emb, async_op=True)
    tokens = [None] * world
    dist.all_gather_object(tokens, [f"tok{int(i)}" for i in ids])
    work.wait()
    # 3. a subgroup: the even ranks
    evens = list(range(0, world, 2))
    group = dist.new_group(evens)
    if rank in evens:
        even_parts = [torch.empty(BATCH, DIM) for _ in evens]
        dist.all_gather(even_parts, emb, group=group)
        for i, r in enumerate(evens):
            assert torch.equal(even_parts[i], shard(r)[1]), f"even group: block {r}"

    for r in range(world):
        expected_ids, expected = shard(r)
        assert torch.equal(parts[r], expected), f"rank {rank}: all_gather block {r} differs"
        assert torch.equal(stacked[r], expected), f"rank {rank}: stacked block {r} differs"
        assert tokens[r] == [f"tok{int(i)}" for i in expected_ids]
    print(f"rank {rank}: gathered {world}x{BATCH} embeddings of dim {DIM}, all verified")

    if rank == 0:
        everything = stacked.reshape(world * BATCH, DIM)
        names = [t for toks in tokens for t in toks]
        normed = torch.nn.functional.normalize(everything, dim=1)
        sim = normed @ normed.t()
        sim.fill_diagonal_(-2.0)
        print(f"{'token':>8} (rank) -> nearest token (rank), cosine")
        for i, name in enumerate(names):
            j = int(sim[i].argmax())
            print(f"{name:>8} ({i // BATCH})  -> {names[j]:>8} ({j // BATCH}), {float(sim[i, j]):+.3f}")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

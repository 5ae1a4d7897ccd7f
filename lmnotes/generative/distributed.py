"""Distributed training as exact arithmetic (book section 2.2.3).

* :func:`data_parallel_step`: a real two-process data-parallel step (``torch.distributed``, gloo, on
  127.0.0.1, started with ``spawn``): each process computes the gradient of its half of the batch,
  ``all_reduce`` sums them, and dividing by the world size gives the mean. The worker lives here,
  in a package module, because ``spawn`` cannot pickle a function defined in a notebook.
* :func:`column_parallel_matmul`: tensor parallelism, a weight split by columns over "devices".
* :func:`pipeline_bubble` and :func:`simulate_pipeline`: the GPipe bubble (p-1)/(m+p-1), closed form
  against a step-by-step schedule.
* :func:`summation_orders`: the same numbers summed in different orders in low precision.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import torch

from lmnotes import checks


def _toy_problem(seed: int, batch: int = 8, dim: int = 16):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    x = torch.randn(batch, dim, generator=g)
    y = torch.randn(batch, 1, generator=g)
    return model, x, y


def _grad(model, x, y) -> torch.Tensor:
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _worker(rank: int, world: int, port: int, seed: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model, x, y = _toy_problem(seed)
        shard = x.shape[0] // world
        local = _grad(model, x[rank * shard:(rank + 1) * shard], y[rank * shard:(rank + 1) * shard])
        reduced = local.clone()
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        reduced /= world
        torch.save({"local": local, "reduced": reduced}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_parallel_step(seed: int = 0, world: int = 2) -> dict:
    """Run one data-parallel gradient step in ``world`` processes; compare with one process.

    Returns the local gradients of each rank, the all-reduced mean (as every rank holds it), the
    same mean computed here from the local gradients, and the full-batch gradient.
    """
    import torch.multiprocessing as mp

    checks.integer("seed", seed, low=0)
    checks.integer("world", world, low=2, high=4)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(world, _free_port(), seed, tmp), nprocs=world, join=True)
        # the files were written by this module's own workers a moment ago (plain tensors)
        parts = [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in range(world)]
    model, x, y = _toy_problem(seed)
    local = [p["local"] for p in parts]
    return dict(local=local, reduced=[p["reduced"] for p in parts], mean_of_local=sum(local) / world,
                full_batch=_grad(model, x, y))


def column_parallel_matmul(x: torch.Tensor, weight: torch.Tensor, parts: int) -> torch.Tensor:
    """x @ weight with ``weight``'s columns split over ``parts`` devices, outputs concatenated."""
    checks.finite_tensor("x", checks.tensor("x", x, dtype="float"))
    checks.finite_tensor("weight", checks.tensor("weight", weight, ndim=2, dtype="float"))
    if x.dim() < 1 or x.shape[-1] != weight.shape[0]:
        raise ValueError(f"x's last dimension must match weight's {weight.shape[0]} rows, got x of shape {tuple(x.shape)}")
    parts = checks.integer("parts", parts, low=1)
    if weight.shape[1] % parts:
        raise ValueError(f"parts={parts} must divide weight's {weight.shape[1]} columns")
    return torch.cat([x @ w for w in weight.chunk(parts, dim=1)], dim=-1)


def pipeline_bubble(stages: int, microbatches: int) -> float:
    """The share of idle stage-time in a GPipe schedule: (p - 1) / (m + p - 1)."""
    p, m = checks.size("stages", stages), checks.size("microbatches", microbatches)
    return (p - 1) / (m + p - 1)


#: upper bounds that keep the clock-tick simulation and the element-by-element sums to about a second
MAX_PIPELINE, MAX_SUMMANDS = 1000, 100_000


def simulate_pipeline(stages: int, microbatches: int) -> dict:
    """Run a forward-only GPipe schedule clock tick by clock tick: stage s works on micro-batch
    t - s at tick t. Returns the grid (stage x tick, micro-batch id or -1 when idle) and the idle share."""
    # the grid has stages x (microbatches + stages - 1) cells: bounded to a million or so
    p = checks.size("stages", stages, high=MAX_PIPELINE)
    m = checks.size("microbatches", microbatches, high=MAX_PIPELINE)
    ticks = m + p - 1
    grid = [[(t - s) if 0 <= t - s < m else -1 for t in range(ticks)] for s in range(p)]
    idle = sum(cell < 0 for row in grid for cell in row)
    return dict(grid=grid, ticks=ticks, idle_share=idle / (p * ticks))


def summation_orders(values: torch.Tensor, dtype: torch.dtype = torch.float16) -> dict:
    """Sum ``values`` in ``dtype`` three ways: left to right, right to left, and pairwise (a tree, as
    an all-reduce does); plus the exact sum in float64 for reference."""
    checks.finite_tensor("values", checks.tensor("values", values, ndim=1, dtype="float"))
    checks.size("the number of values", values.numel(), high=MAX_SUMMANDS)
    checks.choice("dtype", dtype, (torch.float16, torch.bfloat16, torch.float32))
    v = values.to(dtype)

    def running(seq):
        total = torch.zeros((), dtype=dtype)
        for item in seq:
            total = total + item
        return float(total)

    tree = v.clone()
    while tree.numel() > 1:
        if tree.numel() % 2:
            tree = torch.cat([tree, torch.zeros(1, dtype=dtype)])
        tree = tree[0::2] + tree[1::2]
    return dict(left_to_right=running(v), right_to_left=running(v.flip(0)), pairwise=float(tree[0]),
                exact=float(values.double().sum()))

"""Distributed training as exact arithmetic (book section 2.2.3).

* :func:`data_parallel_step`: a real two-process data-parallel step (``torch.distributed``, gloo, on
  127.0.0.1, started with ``spawn``): each process computes the gradient of its half of the batch,
  ``all_reduce`` sums them, and dividing by the world size gives the mean. The worker lives here,
  in a package module, because ``spawn`` cannot pickle a function defined in a notebook.
* :func:`column_parallel_matmul`: tensor parallelism, a weight split by columns over "devices".
* :func:`pipeline_bubble` and :func:`simulate_pipeline`: the GPipe bubble (p-1)/(m+p-1), closed form
  against an event-by-event schedule, which also runs stages of unequal speed.
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


def simulate_pipeline(stages: int, microbatches: int, stage_times=None) -> dict:
    """Run a forward-only GPipe schedule event by event, from its dependencies alone: stage s starts
    micro-batch j once it has finished micro-batch j - 1 and stage s - 1 has finished micro-batch j,
    and spends ``stage_times[s]`` on it (default 1 for every stage). No bubble formula is used: with
    equal times the idle share comes out as (p - 1) / (m + p - 1); with unequal ones the slowest
    stage sets the pace, which the closed form does not assume.

    Returns ``start`` (stage x micro-batch start times), ``stage_times``, the ``makespan`` and the
    ``idle_share`` 1 - m * sum(stage_times) / (p * makespan)."""
    p = checks.size("stages", stages, high=MAX_PIPELINE)
    m = checks.size("microbatches", microbatches, high=MAX_PIPELINE)
    if stage_times is None:
        times = [1.0] * p
    else:
        if isinstance(stage_times, (str, bytes)) or not hasattr(stage_times, "__len__"):
            raise TypeError(f"stage_times must be a list of {p} positive times, got {type(stage_times).__name__}")
        if len(stage_times) != p:
            raise ValueError(f"stage_times must hold one time per stage ({p}), got {len(stage_times)}")
        times = [checks.positive("stage_times", t) for t in stage_times]
    start = [[0.0] * m for _ in range(p)]
    finish = [[0.0] * m for _ in range(p)]
    for s in range(p):
        for j in range(m):
            start[s][j] = max(finish[s][j - 1] if j else 0.0, finish[s - 1][j] if s else 0.0)
            finish[s][j] = start[s][j] + times[s]
    makespan = finish[-1][-1]
    return dict(start=start, stage_times=times, makespan=makespan, idle_share=1 - m * sum(times) / (p * makespan))


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

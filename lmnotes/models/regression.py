"""A decoder-only Transformer that reads real-valued (x, y) pairs: in-context learning of a function
class (book section 3.1; Garg et al. 2022, "What can Transformers learn in-context?").

A prompt is a sequence of examples ``(x_1, y_1), ..., (x_n, y_n)`` of one function drawn at random
(here a linear map ``y = w . x``). Following Garg et al., every x and every y is one token: x_i as
``[x_i, 0]`` and y_i as ``[0, ..., 0, y_i]`` (d + 1 numbers), projected to the model width by one
linear layer (this *input projection* takes the place of the token embedding). The same causal
``Block``s as ``GPT`` follow; a linear read-out at each x_i's position predicts y_i from the
examples before it, so one forward pass gives the prediction after 0, 1, ..., n - 1 examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.layers import Block, BlockConfig, Positions, build_mask, make_norm


@dataclass
class RegressionGPTConfig(BlockConfig):
    """Configuration of ``RegressionGPT``: ``dim`` (the inputs' dimension d) and ``max_points`` (the
    longest prompt, in (x, y) examples); ``block_size`` is set to ``2 * max_points``."""

    dim: int = 5
    max_points: int = 21
    vocab_size: int = 1  # no vocabulary: the inputs are vectors
    block_size: int = 42

    def __post_init__(self):
        checks.size("dim", self.dim, high=4096)
        checks.size("max_points", self.max_points, high=100_000)
        self.block_size = 2 * self.max_points
        super().__post_init__()


class RegressionGPT(nn.Module):
    """``forward(xs, ys) -> predictions``: xs (B, n, d), ys (B, n) -> (B, n), where prediction i is
    the model's guess of y_i having seen examples 0..i-1 and x_i (never y_i itself)."""

    def __init__(self, config: RegressionGPTConfig):
        super().__init__()
        if not isinstance(config, RegressionGPTConfig):
            raise TypeError(f"config must be a RegressionGPTConfig, got {type(config).__name__}")
        c = self.config = config
        self.read_in = nn.Linear(c.dim + 1, c.n_embd)
        self.positions = Positions("learned", c.n_embd, c.n_head, c.block_size)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.norm_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.read_out = nn.Linear(c.n_embd, 1)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        c = self.config
        xs = checks.tensor("xs", xs, ndim=3)
        ys = checks.tensor("ys", ys, ndim=2)
        B, n, d = xs.shape
        if d != c.dim:
            raise ValueError(f"xs must have shape (batch, points, {c.dim}), got {tuple(xs.shape)}")
        if ys.shape != (B, n):
            raise ValueError(f"ys must have shape {(B, n)} (one y per x), got {tuple(ys.shape)}")
        if not 1 <= n <= c.max_points:
            raise ValueError(f"a prompt holds 1 to max_points={c.max_points} examples, got {n}")
        x_tok = torch.cat([xs, torch.zeros(B, n, 1, dtype=xs.dtype, device=xs.device)], -1)
        y_tok = torch.cat([torch.zeros(B, n, d, dtype=xs.dtype, device=xs.device), ys[..., None].to(xs.dtype)], -1)
        tokens = torch.stack([x_tok, y_tok], 2).reshape(B, 2 * n, d + 1)  # x_1, y_1, x_2, y_2, ...
        pos = torch.arange(2 * n, device=xs.device)[None]
        h = self.read_in(tokens) + self.positions.embed(pos)
        mask, is_causal = build_mask(2 * n, 0, causal=True, device=xs.device)
        for i, block in enumerate(self.blocks):
            h = block(h, mask, is_causal, None, None, layer=i)
        return self.read_out(self.norm_f(h[:, 0::2]))[..., 0]  # read at the x positions

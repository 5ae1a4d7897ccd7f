"""Plotting helpers shared by the notebooks: loss curves, schedules, bars, heatmaps, scaling plots.

Each helper draws one readable-on-a-projector chart (large fonts, a grid, a legend when there is more
than one series) and returns its ``matplotlib.figure.Figure``; pass ``ax=`` to draw into an existing
subplot instead. In Jupyter a figure appears exactly once, whether or not the call is the cell's
last line (see ``NotebookFigure``), so no ``_ = ...`` is needed.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib._pylab_helpers import Gcf
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lmnotes import checks

if TYPE_CHECKING:  # imported where used: plotting stays cheap to import (training pulls in torch)
    from lmnotes.training import History

FIGSIZE = (8, 4.5)
FONT_SIZE = 13
TITLE_SIZE = 15
LINE_WIDTH = 2.0
HIGHLIGHT = "tab:orange"
BAR_COLOR = "tab:blue"


class NotebookFigure(Figure):
    """A matplotlib Figure that shows exactly once in a Jupyter notebook.

    With the inline backend, Jupyter shows every open pyplot figure when a cell ends *and* the value
    of the cell's last line, so a helper that returns its figure would show it twice. When Jupyter
    displays this figure as a value, it shows the pending figures up to this one, in pyplot's order,
    and closes them, so the end-of-cell flush finds nothing left to repeat. Shown again in a later
    cell, it simply displays.
    """

    def _ipython_display_(self) -> None:
        from IPython.display import display

        pending = [manager.canvas.figure for manager in Gcf.get_all_fig_managers()]
        if "inline" in matplotlib.get_backend() and any(fig is self for fig in pending):
            figures = pending[: [id(fig) for fig in pending].index(id(self)) + 1]
        else:
            figures = [self]
        for fig in figures:
            if "inline" in matplotlib.get_backend():
                plt.close(fig)
            display({"image/png": png_bytes(fig)}, raw=True)


def png_bytes(fig: Figure) -> bytes:
    """The figure rendered as PNG bytes (what a notebook stores)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def plot_loss_curves(
    histories: History | Mapping[str, History],
    *,
    x: str = "step",
    log_y: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Training loss (solid) and evaluation loss (dashed, dots) of one run or of several named runs.

    ``x`` is "step" (updates) or "tokens" (input tokens seen); ``log_y`` makes the loss axis
    logarithmic, which shows the late, slow part of training better.
    """
    from lmnotes.training import History

    if isinstance(histories, History):
        runs = {"": histories}
    elif isinstance(histories, Mapping) and histories and all(isinstance(h, History) for h in histories.values()):
        runs = dict(histories)
    else:
        raise TypeError(f"histories must be a History or a non-empty dict of name -> History, got {histories!r:.80}")
    if x not in ("step", "tokens"):
        raise ValueError(f"x must be 'step' or 'tokens', got {x!r}")
    fig, ax = _figure(ax)
    for i, (name, history) in enumerate(runs.items()):
        color = f"C{i}"
        prefix = f"{name} " if name else ""
        tokens_at = dict(zip(history.steps, history.tokens, strict=True)) | {0: 0}
        train_x = history.steps if x == "step" else history.tokens
        ax.plot(train_x, history.train_loss, color=color, lw=LINE_WIDTH, alpha=0.8, label=f"{prefix}train")
        if history.eval_loss:
            eval_x = history.eval_steps if x == "step" else [tokens_at[s] for s in history.eval_steps]
            ax.plot(eval_x, history.eval_loss, "o--", color=color, lw=LINE_WIDTH, label=f"{prefix}eval")
    if log_y:
        ax.set_yscale("log")
    _style(ax, title=title, xlabel="step" if x == "step" else "tokens seen", ylabel="loss (nats per token)")
    return fig


def plot_lr_schedule(
    steps: int, *, lr: float, warmup: int = 0, min_lr: float | None = None, title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The learning rate of every update under ``training.lr_at``: warm-up, then cosine decay."""
    from lmnotes.training import lr_at

    fig, ax = _figure(ax)
    rates = [lr_at(step, steps=steps, lr=lr, warmup=warmup, min_lr=min_lr) for step in range(steps)]
    ax.plot(range(steps), rates, lw=LINE_WIDTH, label="learning rate")
    if warmup:
        ax.axvline(warmup, color="gray", ls=":", lw=LINE_WIDTH, label="end of warm-up")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    _style(ax, title=title, xlabel="step", ylabel="learning rate")
    return fig


def plot_bars(
    labels: Sequence[Any],
    values: Sequence[float] | Any,
    *,
    highlight: int | None = None,
    horizontal: bool = False,
    annotate: bool = True,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One bar per label, e.g. the top-10 next-token probabilities; ``highlight`` colours bar i.

    Labels are drawn with ``repr`` when they are strings with surrounding or special whitespace (so
    " the" and "\\n" stay visible). ``annotate`` writes each value (3 significant digits) on its bar.
    """
    values = _as_array(values, "values", ndim=1)
    labels = [_label(label) for label in labels]
    if len(labels) != len(values):
        raise ValueError(f"labels and values must have the same length, got {len(labels)} and {len(values)}")
    if highlight is not None and not (isinstance(highlight, int) and 0 <= highlight < len(values)):
        raise ValueError(f"highlight must be a bar index in [0, {len(values)}), got {highlight!r}")
    fig, ax = _figure(ax)
    colors = [HIGHLIGHT if i == highlight else BAR_COLOR for i in range(len(values))]
    positions = np.arange(len(values))
    if horizontal:
        bars = ax.barh(positions, values, color=colors)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()  # first label on top, as in a ranked list
    else:
        bars = ax.bar(positions, values, color=colors)
        ax.set_xticks(positions, labels, rotation=45 if sum(map(len, labels)) > 60 else 0)
    if annotate:
        ax.bar_label(bars, fmt="{:.3g}", fontsize=FONT_SIZE - 2, padding=2)
    _style(ax, title=title, xlabel=xlabel, ylabel=ylabel, grid_axis="x" if horizontal else "y")
    return fig


def plot_heatmap(
    matrix: Any,
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    *,
    annotate: bool = False,
    fmt: str = "{:.2g}",
    cmap: str = "Blues",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """A matrix as coloured cells, e.g. an attention mask or attention weights (rows attend to columns).

    ``annotate`` writes each value with ``fmt`` in its cell (for small matrices).
    """
    data = _as_array(matrix, "matrix", ndim=2)
    rows, cols = data.shape
    for name, labels, size in (("row_labels", row_labels, rows), ("col_labels", col_labels, cols)):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} must have {size} entries (the matrix is {rows}x{cols}), got {len(labels)}")
    fig, ax = _figure(ax)
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    if row_labels is not None:
        ax.set_yticks(range(rows), [_label(label) for label in row_labels])
    if col_labels is not None:
        ax.set_xticks(range(cols), [_label(label) for label in col_labels], rotation=90 if cols > 8 else 0)
    if annotate:
        threshold = (image.norm.vmin + image.norm.vmax) / 2
        for (i, j), value in np.ndenumerate(data):
            color = "white" if value > threshold else "black"
            ax.text(j, i, fmt.format(value), ha="center", va="center", color=color, fontsize=FONT_SIZE - 2)
    if colorbar:
        fig.colorbar(image, ax=ax).ax.tick_params(labelsize=FONT_SIZE - 2)
    _style(ax, title=title, xlabel=xlabel, ylabel=ylabel, grid_axis=None)
    return fig


def plot_xy(
    series: Mapping[str, tuple],
    *,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Named series ``{name: (x, y)}`` or ``{name: (x, y, fmt)}`` on shared axes, e.g. a scaling law.

    ``fmt`` is a matplotlib format string ("o" points, "--" a dashed fit; default "o-"). ``logx``/
    ``logy`` use log axes: a power law L = a N^-alpha is then a straight line of slope -alpha.
    """
    if not isinstance(series, Mapping) or not series:
        raise TypeError(f"series must be a non-empty dict of name -> (x, y[, fmt]), got {series!r:.80}")
    fig, ax = _figure(ax)
    for name, spec in series.items():
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise ValueError(f"series[{name!r}] must be (x, y) or (x, y, fmt), got {spec!r:.80}")
        xs, ys = _as_array(spec[0], f"series[{name!r}] x", ndim=1), _as_array(spec[1], f"series[{name!r}] y", ndim=1)
        if len(xs) != len(ys):
            raise ValueError(f"series[{name!r}]: x and y must have the same length, got {len(xs)} and {len(ys)}")
        for axis, log, values in (("x", logx, xs), ("y", logy, ys)):
            if log and (values <= 0).any():
                raise ValueError(f"series[{name!r}]: log{axis} needs positive {axis} values, got {values.min():.3g}")
        ax.plot(xs, ys, spec[2] if len(spec) == 3 else "o-", lw=LINE_WIDTH, markersize=7, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _style(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def _figure(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
        return ax.figure, ax
    fig = plt.figure(FigureClass=NotebookFigure, figsize=FIGSIZE, layout="constrained")
    return fig, fig.add_subplot()


def _style(
    ax: Axes, *, title: str | None, xlabel: str | None, ylabel: str | None, grid_axis: str | None = "both"
) -> None:
    """Font sizes are set on the artists themselves, so they hold whatever the global rcParams say."""
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    ax.yaxis.get_offset_text().set_fontsize(FONT_SIZE - 1)
    if grid_axis:
        ax.grid(True, axis=grid_axis, alpha=0.3)
    if len(ax.get_legend_handles_labels()[1]) > 1:
        ax.legend(fontsize=FONT_SIZE - 1)


def _as_array(values: Any, name: str, ndim: int) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().float().cpu().numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (a list, array or tensor), got {values!r:.80}") from None
    if array.ndim != ndim or array.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array of numbers, got shape {array.shape}")
    return array


def _label(label: Any) -> str:
    text = str(label)
    return repr(text) if text != text.strip() or any(c in text for c in "\n\t\r") or not text else text


def plot_token_mask(tokens: Sequence[str], mask: Sequence[float], *, per_row: int = 16, title: str | None = None,
                    ax: Axes | None = None) -> Figure:
    """Tokens in reading order, ``per_row`` to a line, shaded where ``mask`` is 1 (e.g. the tokens
    SFT's loss counts) and plain where it is 0."""
    tokens, mask = checks.texts("tokens", tokens), _as_array(mask, "mask", 1)
    per_row = checks.size("per_row", per_row, high=10_000)
    if not tokens or len(tokens) != len(mask):
        raise ValueError(f"tokens and mask must have one equal, non-zero length; got {len(tokens)}, {len(mask)}")
    rows = (len(tokens) + per_row - 1) // per_row
    fig, ax = _figure(ax)
    for i, (token, m) in enumerate(zip(tokens, mask)):
        r, c = divmod(i, per_row)
        ax.add_patch(matplotlib.patches.Rectangle((c, -r - 1), 0.95, 0.9, color="tab:orange" if m else "0.9"))
        ax.text(c + 0.47, -r - 0.55, _label(token), ha="center", va="center", fontsize=FONT_SIZE - 3)
    ax.set_xlim(0, per_row)
    ax.set_ylim(-rows - 0.1, 0)
    ax.axis("off")
    _style(ax, title=title, xlabel=None, ylabel=None, grid_axis=None)
    return fig


# --------------------------------------------------------------------------------------------------
# The live loss plot: a callback of lmnotes.training.train

LIVE_PLOT_SECONDS = 2.0
"""The live loss plot is redrawn at most this often: rendering a PNG costs about 0.1 s on a laptop."""


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code), False in scripts and plain IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class LivePlot:
    """Loss curves redrawn in place in ONE notebook output while a model trains: pass an instance as
    ``train(..., callback=LivePlot())``. Outside a Jupyter kernel it draws nothing.

    The figure is not registered with pyplot, so the end-of-cell flush does not show it a second time;
    the saved notebook keeps only the last frame.
    """

    def __init__(self):
        self.figure = Figure(figsize=FIGSIZE, layout="constrained")
        self.ax = self.figure.add_subplot()
        self.handle = None
        self.last = -math.inf

    def __call__(self, history: History, final: bool = False) -> None:
        if not _in_notebook():
            return
        if not final and time.perf_counter() - self.last < LIVE_PLOT_SECONDS:
            return
        from IPython.display import display

        self.ax.clear()
        plot_loss_curves(history, ax=self.ax)
        image = {"image/png": png_bytes(self.figure)}
        if self.handle is None:
            self.handle = display(image, raw=True, display_id=True)
        else:
            self.handle.update(image, raw=True)
        self.last = time.perf_counter()

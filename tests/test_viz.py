"""lmnotes.viz: what each figure contains (artists' data, labels, scales), on the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lmnotes import viz  # noqa: E402
from lmnotes.training import History, lr_at  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history(losses, eval_every=2):
    steps = list(range(1, len(losses) + 1))
    evals = [0] + [s for s in steps if s % eval_every == 0]
    return History(
        steps=steps, train_loss=list(losses), lr=[1e-3] * len(losses), grad_norm=[1.0] * len(losses),
        tokens=[100 * s for s in steps], train_seconds=[0.1 * s for s in steps], eval_steps=evals,
        eval_metrics={"loss": [4.0 - 0.1 * s for s in evals]},
    )


def test_loss_curves_of_one_run_show_train_and_eval():
    history = make_history([3.0, 2.5, 2.2, 2.0])
    fig = viz.plot_loss_curves(history, title="tiny run")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    train, evals = ax.lines
    assert train.get_xdata().tolist() == [1, 2, 3, 4] and train.get_ydata().tolist() == [3.0, 2.5, 2.2, 2.0]
    assert evals.get_xdata().tolist() == [0, 2, 4] and evals.get_ydata().tolist() == pytest.approx([4.0, 3.8, 3.6])
    assert evals.get_linestyle() == "--" and evals.get_color() == train.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "eval"]
    assert ax.get_xlabel() == "step" and "loss" in ax.get_ylabel() and ax.get_title() == "tiny run"
    assert ax.get_yscale() == "linear"


def test_loss_curves_compare_named_runs_against_tokens_on_a_log_axis():
    runs = {"small": make_history([3.0, 2.0]), "large": make_history([2.5, 1.5, 1.0, 0.8])}
    ax = viz.plot_loss_curves(runs, x="tokens", log_y=True).axes[0]
    assert len(ax.lines) == 4 and ax.get_yscale() == "log" and ax.get_xlabel() == "tokens seen"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["small train", "small eval", "large train", "large eval"]
    assert ax.lines[2].get_xdata().tolist() == [100, 200, 300, 400]
    assert ax.lines[3].get_xdata().tolist() == [0, 200, 400]  # eval steps 0, 2, 4 in tokens
    with pytest.raises(TypeError, match="histories"):
        viz.plot_loss_curves({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="x must be"):
        viz.plot_loss_curves(make_history([1.0]), x="time")


def test_lr_schedule_plot_draws_lr_at_and_marks_warmup():
    ax = viz.plot_lr_schedule(50, lr=1e-3, warmup=5).axes[0]
    schedule, warmup_end = ax.lines
    assert schedule.get_ydata().tolist() == [lr_at(s, steps=50, lr=1e-3, warmup=5) for s in range(50)]
    assert list(warmup_end.get_xdata()) == [5, 5]
    assert len(viz.plot_lr_schedule(50, lr=1e-3).axes[0].lines) == 1


def test_bars_heights_labels_highlight_and_annotations():
    labels, probs = [" the", "\n", "cat", "dog"], [0.5, 0.25, 0.15, 0.1]
    ax = viz.plot_bars(labels, torch.tensor(probs), highlight=2, ylabel="probability").axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx(probs)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["' the'", "'\\n'", "cat", "dog"]
    colors = [p.get_facecolor() for p in ax.patches]
    assert colors[2] != colors[0] and colors[0] == colors[1] == colors[3]
    assert [t.get_text() for t in ax.texts] == ["0.5", "0.25", "0.15", "0.1"]
    assert ax.get_ylabel() == "probability"
    ax = viz.plot_bars(["a", "b"], [3, 1], horizontal=True, annotate=False).axes[0]
    assert [p.get_width() for p in ax.patches] == [3, 1] and not ax.texts
    with pytest.raises(ValueError, match="same length"):
        viz.plot_bars(["a"], [1, 2])
    with pytest.raises(ValueError, match="highlight"):
        viz.plot_bars(["a"], [1], highlight=3)


def test_heatmap_shows_the_matrix_with_labels_and_values():
    causal = torch.tril(torch.ones(3, 3))
    fig = viz.plot_heatmap(causal, ["a", "b", "c"], ["a", "b", "c"], annotate=True, fmt="{:.0f}")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), causal.numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.texts] == ["1", "0", "0", "1", "1", "0", "1", "1", "1"]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    assert len(viz.plot_heatmap(np.eye(2), colorbar=False).axes) == 1
    with pytest.raises(ValueError, match="row_labels must have 3 entries"):
        viz.plot_heatmap(causal, ["a"])
    with pytest.raises(ValueError, match="2-D"):
        viz.plot_heatmap([1, 2, 3])


def test_xy_series_with_formats_and_log_axes():
    n = np.array([1e4, 1e5, 1e6])
    series = {"measured": (n, 5 * n**-0.1), "fit": (n, 5 * n**-0.1 + 0.01, "--")}
    ax = viz.plot_xy(series, logx=True, logy=True, xlabel="parameters", ylabel="loss").axes[0]
    measured, fit = ax.lines
    np.testing.assert_allclose(measured.get_xdata(), n)
    assert measured.get_marker() == "o" and fit.get_linestyle() == "--"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_xlabel() == "parameters"
    with pytest.raises(ValueError, match="logy needs positive y"):
        viz.plot_xy({"s": ([1, 2], [0, 1])}, logy=True)
    with pytest.raises(ValueError, match="same length"):
        viz.plot_xy({"s": ([1, 2], [1])})


def test_fonts_are_projector_sized_and_ax_draws_into_a_given_subplot():
    fig, (left, right) = plt.subplots(1, 2)
    assert viz.plot_bars(["a"], [1], xlabel="token", ax=right) is fig
    assert right.xaxis.label.get_fontsize() == viz.FONT_SIZE
    assert all(t.get_fontsize() == viz.FONT_SIZE - 1 for t in right.get_xticklabels())
    assert not left.patches and len(right.patches) == 1


def test_notebook_figure_shows_once_as_a_cells_value(monkeypatch):
    """Inline backend: showing a figure as the cell's value closes the pending ones it shows, in order."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False: shown.append(data))
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    first, second = viz.plot_bars(["a"], [1]), viz.plot_bars(["b"], [2])
    second._ipython_display_()
    assert len(shown) == 2 and all(d["image/png"].startswith(b"\x89PNG") for d in shown)
    assert plt.get_fignums() == []  # nothing left for the end-of-cell flush to show again
    first._ipython_display_()  # shown again in a later cell: it simply displays
    assert len(shown) == 3

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    third = viz.plot_bars(["c"], [3])
    third._ipython_display_()
    assert len(shown) == 4 and plt.get_fignums() == [third.number]  # other backends: nothing closed


def test_token_mask_shades_the_counted_tokens_and_checks_lengths():
    fig = viz.plot_token_mask(["user", ":", "hi", "assistant", ":", "fig", "."], [0, 0, 0, 0, 0, 1, 1], per_row=4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["user", ":", "hi", "assistant", ":", "fig", "."]
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colours.count(matplotlib.colors.to_hex("tab:orange")) == 2 and len(colours) == 7
    assert ax.get_ylim()[0] < -1.9  # two rows of four
    with pytest.raises(ValueError, match="equal"):
        viz.plot_token_mask(["a", "b"], [1])
    plt.close("all")

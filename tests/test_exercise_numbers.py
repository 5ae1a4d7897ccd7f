"""The exercise checker takes a right answer however it was computed (numpy, torch) and never
calls nan right (issue 9)."""

import math

import numpy as np
import torch

from lmnotes.exercises import check


def test_numpy_and_torch_numbers_are_accepted():
    assert check("best-span", (np.int64(1), np.int64(2)))
    assert check("best-span", torch.tensor([1, 2]))
    assert check("mask-counts", np.array([60.0, 48.0, 6.0, 6.0], dtype=np.float32))
    assert check("mask-counts", (torch.tensor(60), 48, np.float32(6), 6))
    assert check("probe-parameters", np.int32(1285))
    want = math.exp(-2.1) / sum(math.exp(s) for s in (-2.1, -0.9, -1.6))
    assert check("label-word-probability", np.float32(want))
    assert check("label-word-probability", torch.tensor(want))


def test_nan_bool_and_wrong_shapes_are_refused():
    assert not check("mask-counts", (float("nan"), 48, 6, 6))
    assert not check("mask-counts", (60, 48, 6, float("inf")))
    assert not check("best-span", (True, 2))
    assert not check("best-span", torch.tensor([[1, 2]]))
    assert not check("label-word-probability", float("nan"))
    assert not check("probe-parameters", 1285.5)


def test_every_number_exercise_takes_numpy_and_torch_numbers():
    # exercises of notebooks 05, 06 and 08 used to accept only Python numbers
    assert check("distinct-2", np.float32(2 / 3)) and check("distinct-2", torch.tensor(2 / 3))
    assert check("pipeline-bubble", np.int64(64)) and check("pipeline-bubble", torch.tensor(64))
    assert check("query-class-seen", np.float32(0.875)) and check("examples-for-exact-fit", np.int64(5))
    assert check("examples-for-exact-fit", torch.tensor(5)) and not check("examples-for-exact-fit", 5.5)


def test_the_window_exercise_wants_the_smallest_window_level_with_the_full_cache(capsys):
    assert check("window-matching-full-cache", 48) and check("window-matching-full-cache", np.int64(48))
    assert not check("window-matching-full-cache", 64)
    assert "smaller one" in capsys.readouterr().out
    assert not check("window-matching-full-cache", 32)
    assert "0.027" in capsys.readouterr().out
    assert not check("window-matching-full-cache", 100) and not check("window-matching-full-cache", 48.5)

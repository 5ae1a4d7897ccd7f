"""Notebook 14's exercise: right answers pass, each common mistake gets its own feedback."""

from lmnotes import exercises
from lmnotes.exercises.inference import _decode_ceiling


def test_decode_ceiling_accepts_the_bandwidth_bound_and_names_the_mistakes(capsys):
    assert abs(_decode_ceiling() - 248.5) < 0.5
    assert exercises.check("llama2-7b-decode-ceiling", 248)
    assert not exercises.check("llama2-7b-decode-ceiling", 124)
    assert "4 bytes" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", 70_000)
    assert "compute bound" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", "fast")

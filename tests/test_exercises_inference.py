"""Notebook 14's exercise: right answers pass, each common mistake gets its own feedback."""

from lmnotes import exercises
from lmnotes.exercises.inference import _decode_ceiling


def test_decode_ceiling_accepts_the_bandwidth_bound_and_names_the_mistakes(capsys):
    assert abs(_decode_ceiling() - 265.5) < 0.5
    assert exercises.check("llama2-7b-decode-ceiling", 265)
    assert not exercises.check("llama2-7b-decode-ceiling", 133)
    assert "2 bytes" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", 436)
    assert "H100" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", 309)
    assert "weights only" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", 20_000)
    assert "compute bound" in capsys.readouterr().out
    assert not exercises.check("llama2-7b-decode-ceiling", 248)  # the H100 bf16 figure the notebook prints
    assert not exercises.check("llama2-7b-decode-ceiling", "fast")

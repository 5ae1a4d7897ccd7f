import math

import pytest

from lmnotes import exercises


@pytest.mark.parametrize("name, right, wrongs", [
    ("bradley-terry-probability", 1 / (1 + math.exp(-1.5)), [1 - 1 / (1 + math.exp(-1.5)), 0.8, 0.3]),
    ("ppo-clipped-term", 2.4, [3.0, 1.6, 2.0]),
    ("plackett-luce-ranking", math.e / (math.e + 2) / 2, [math.e / (math.e + 2), 1 / 6, 0.9]),
])
def test_right_answers_pass_and_wrong_ones_get_a_reason(name, right, wrongs, capsys):
    assert exercises.check(name, right)
    for wrong in wrongs + [None, "0.5"]:
        assert not exercises.check(name, wrong)
        assert len(capsys.readouterr().out.strip()) > 20

"""lmnotes.prompting.reasoning and lmnotes.data.reasoning: voting, self-consistency, decomposition,
the step verifier and verifier-guided resampling, and the multi-format data; the model-level tests use the
bundled toyworld-reasoner."""

import pytest
import torch

from lmnotes import checkpoints
from lmnotes.data import reasoning as data
from lmnotes.prompting import reasoning as rs

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bundle():
    return checkpoints.load("toyworld-reasoner")


def test_formats_render_the_same_sum():
    ops = (23, 45, 17)
    plain, steps, rev = (data.render(ops, f) for f in data.ARITHMETIC_FORMATS)
    assert plain.text == "<plain> what is 2 3 + 4 5 + 1 7 ? the answer is 8 5 ."
    assert steps.response == "2 3 + 4 5 = 6 8 . 6 8 + 1 7 = 8 5 . the answer is 8 5 ."
    assert rev.text == "<rev> what is 3 2 + 5 4 + 7 1 ? the answer is 5 8 ."
    assert [data.answer_of(e.format, e.response) for e in (plain, steps, rev)] == [85, 85, 85]
    calc = data.render((37, 48), "calc")
    assert calc.response == "<< 3 7 * 4 8 >> 1 7 7 6 . the answer is 1 7 7 6 ." and calc.answer == 1776


def test_held_out_problems_never_occur_in_training():
    pool = data.training_examples(3000, seed=3)
    assert not any(data.reserved(e.operands) for e in pool if e.operands)
    # no training solution shows a held-out sum, not even as a step or a prefix of a longer sum
    steps = {tuple(sorted(map(int, line.replace(" ", "").split("=")[0].split("+"))))
             for e in pool if e.format == "steps" for line in e.response.split(" . ")[:-1]}
    assert steps and not any(data.held_out(s) for s in steps)
    evaluation = data.problems(200, seed=1, n_operands=3)
    assert len(set(evaluation)) == 200 and all(data.held_out(p) for p in evaluation)
    assert data.held_out((12, 34)) == data.held_out((34, 12))  # a + b and b + a fall on the same side
    shares = {f: sum(e.format == f for e in pool) / len(pool) for f in data.FORMATS}
    assert shares == pytest.approx(data.MIXTURE, abs=0.01)


def test_reading_answers_no_answer_without_the_evidence():
    examples = data.reading_examples(400, seed=2, p_relevant=0.5)
    refused = [e for e in examples if e.answer == data.NO_ANSWER]
    assert 0.3 < len(refused) / len(examples) < 0.8
    for e in examples[:50]:
        passage = e.prompt.split("passage : ")[1].split(" question :")[0]
        assert (e.answer == data.NO_ANSWER) or f"{e.answer} ." in passage


def test_majority_vote_and_ties():
    assert rs.majority_vote([3, 5, 5, None, 3, 5]) == 5
    assert rs.majority_vote([7, 3, 3, 7]) == 7  # a tie goes to the answer seen first
    assert rs.majority_vote([None, None]) is None
    with pytest.raises(ValueError, match="answers"):
        rs.majority_vote([])
    samples, truths = [[1, 2, 2], [5, 5, 4], [9, 8, 7]], [2, 4, 9]
    assert rs.vote_accuracy(samples, truths, 1) == pytest.approx(1 / 3)
    assert rs.vote_accuracy(samples, truths, 3) == pytest.approx(2 / 3)  # 2 right, 5 wrong, a tie -> 9 right
    with pytest.raises(ValueError, match="k"):
        rs.vote_accuracy(samples, truths, 0)
    with pytest.raises(ValueError, match="k=4"):
        rs.vote_accuracy(samples, truths, 4)
    assert rs.ensemble([[1, 2, 3], [1, 4, 5], [6, 4, 5]]) == [1, 4, 5]
    with pytest.raises(ValueError, match="answer_lists"):
        rs.ensemble([])


def test_least_to_most_passes_p0_and_earlier_pairs_and_ends_with_the_final_step():
    assert rs.chunks((1, 2, 3, 4, 5, 6, 7), 3) == [(1, 2, 3), (4, 5, 6, 7)]  # a lone operand joins the last group
    assert rs.chunks((1, 2, 3, 4, 5, 6, 7), 4) == [(1, 2, 3, 4), (5, 6, 7)]
    assert rs.chunks((1, 2, 3, 4, 5, 6), 3) == [(1, 2, 3), (4, 5, 6)]
    asked, finals = [], []

    def solve(items):  # Eq. 3.3: (p_i, p0, earlier (p_j, a_j)); a wrong answer to (4, 5, 6) shows it travels on
        asked.append(items)
        return [sum(p) + (1 if p == (4, 5, 6) else 0) for p, _, _ in items]

    def final(items):  # Eq. 3.4: (p0, all (p_j, a_j))
        finals.append(items)
        return [sum(a for _, a in history) for _, history in items]

    answers, trail = rs.least_to_most(solve, final, [(1, 2, 3, 4, 5, 6), (10, 20, 30)], size=3)
    assert trail == [[6, 16], [60]] and answers == [22, 60]
    assert asked[0] == [((1, 2, 3), (1, 2, 3, 4, 5, 6), []), ((10, 20, 30), (10, 20, 30), [])]
    assert asked[1] == [((4, 5, 6), (1, 2, 3, 4, 5, 6), [((1, 2, 3), 6)])]
    assert finals == [[((1, 2, 3, 4, 5, 6), [((1, 2, 3), 6), ((4, 5, 6), 16)]), ((10, 20, 30), [((10, 20, 30), 60)])]]
    with pytest.raises(ValueError, match="size"):
        rs.chunks((1, 2, 3), 1)
    with pytest.raises(ValueError, match="problems"):
        rs.least_to_most(solve, final, [], 3)
    with pytest.raises(ValueError, match="one answer per sub-problem"):
        rs.least_to_most(lambda items: [], final, [(1, 2, 3)], 3)
    with pytest.raises(TypeError, match="final"):
        rs.least_to_most(solve, None, [(1, 2, 3)], 3)


def test_first_wrong_step_finds_the_first_error():
    ops = (23, 45, 17)
    right = data.render(ops, "steps").response
    assert rs.first_wrong_step(ops, right) is None
    assert rs.first_wrong_step(ops, right.replace("6 8 + 1 7 = 8 5", "6 8 + 1 7 = 8 6")) == 1
    assert rs.first_wrong_step(ops, right.replace("the answer is 8 5", "the answer is 8 6")) == 2
    assert rs.first_wrong_step(ops, "2 3 + 4 5 = 6 8 .") == 1  # a missing line is wrong
    assert rs.first_wrong_step(ops, "") == 0


def test_complete_and_sampling_are_seeded(bundle):
    prompts = [data.render(p, "steps").prompt for p in data.problems(6, seed=4, n_operands=3)]
    greedy = rs.complete(bundle.model, bundle.tokenizer, prompts, 60)
    assert all(g.split()[-4:-1] == ["the", "answer", "is"] or "the answer is" in g for g in greedy)
    parse = lambda t: data.answer_of("steps", t)  # noqa: E731
    a = rs.sample_answers(bundle.model, bundle.tokenizer, prompts, 3, parse, temperature=1.0, seed=5)
    b = rs.sample_answers(bundle.model, bundle.tokenizer, prompts, 3, parse, temperature=1.0, seed=5)
    assert a == b and len(a) == 6 and all(len(s) == 3 for s in a)
    with pytest.raises(ValueError, match="k"):
        rs.sample_answers(bundle.model, bundle.tokenizer, prompts, 0, parse)
    with pytest.raises(ValueError, match="stop"):
        rs.complete(bundle.model, bundle.tokenizer, prompts, 4, stop=("<nope>",))


def test_verifier_resampling_with_a_perfect_verifier_never_loses_a_right_answer(bundle):
    problems = data.problems(40, seed=6, n_operands=5)
    prompts = [data.render(p, "steps").prompt for p in problems]
    perfect = rs.verifier_resampling(bundle.model, bundle.tokenizer, prompts, problems, rounds=2, seed=1)
    acc = perfect["accuracy"]
    assert len(acc) == 3 and acc[0] <= acc[1] <= acc[2]
    assert perfect["sent_back"][0] == round((1 - acc[0]) * 40)
    # a verifier that is always wrong accepts every wrong answer and sends back every right one
    liar = rs.verifier_resampling(bundle.model, bundle.tokenizer, prompts, problems, rounds=1, noise=1.0, seed=1)
    assert liar["sent_back"] == [round(acc[0] * 40)]
    with pytest.raises(ValueError, match="noise"):
        rs.verifier_resampling(bundle.model, bundle.tokenizer, prompts, problems, rounds=1, noise=1.5)
    with pytest.raises(ValueError, match="operands"):
        rs.verifier_resampling(bundle.model, bundle.tokenizer, prompts, problems[:3], rounds=1)

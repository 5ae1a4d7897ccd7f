"""lmnotes.prompting.retrieval (BM25; tests/test_oracle_bm25.py checks it against rank_bm25) and lmnotes.prompting.tools
(the calculator, and calls executed in the middle of generation by the bundled toyworld-reasoner)."""

import pytest
import torch

from lmnotes import checkpoints
from lmnotes.data import reasoning as data
from lmnotes.data import toyworld
from lmnotes.prompting import retrieval, tools

torch.set_num_threads(1)


def test_bm25_retrieves_the_person_and_excludes_on_request():
    world = toyworld.facts(5)
    docs = [f.text for f in world.facts]
    index = retrieval.BM25(docs)
    question = toyworld.fact_questions(1, seed=1, world=world)[0]
    top = index.retrieve(question.prompt, 4)
    assert question.evidence in top and all(question.person in d.split() for d in top)
    assert question.evidence not in index.retrieve(question.prompt, 4, exclude=[question.evidence])
    assert retrieval.recall_at_k([top, top[1:]], [question.evidence, question.evidence]) in (0.5, 1.0)
    with pytest.raises(ValueError, match="k"):
        index.top_k("anna", 0)
    with pytest.raises(ValueError, match="documents"):
        retrieval.BM25([])


def test_calculator_and_unknown_tools():
    assert tools.calculator("3 7 * 4 8") == "1 7 7 6"
    assert tools.calculator("2 + 3 * 4 - 5") == "9"
    assert tools.calculator("3 - 1 0") == "- 7"
    with pytest.raises(ValueError, match="call"):
        tools.calculator("3 7 * * 4")
    with pytest.raises(ValueError, match="tool"):
        tools.execute("search", "3 + 4")
    assert tools.execute("calculator", "1 2 * 1 2") == "1 4 4"


def test_calls_are_executed_mid_generation():
    bundle = checkpoints.load("toyworld-reasoner")
    problems = data.problems(30, seed=3, n_operands=2)
    examples = [data.render(p, "calc") for p in problems]
    with_tool = tools.generate_with_tools(bundle.model, bundle.tokenizer, [e.prompt for e in examples])
    for e, text in zip(examples, with_tool):
        call = text.split(">>")[0].split("<<")[-1].strip()
        assert text.split(">>")[1].split(" .")[0].strip() == tools.calculator(call)  # the tool's result, inserted
    right = sum(data.answer_of("calc", t) == e.answer for e, t in zip(examples, with_tool))
    assert right >= 27
    with pytest.raises(ValueError, match="tool"):
        tools.generate_with_tools(bundle.model, bundle.tokenizer, ["<calc> what is 1 2 * 3 4 ?"], tool="search")

"""The bundled checkpoints: present, verified, loadable by lmnotes and transformers alike."""

import shutil

import pytest
import torch

from lmnotes import checkpoints

BUNDLED = ["shakespeare-char", "shakespeare-char-draft", "shakespeare-bpe", "toyworld-gpt", "toyworld-bert", "toyworld-sft", "toyworld-reasoner"]
NATIVE = ["linear-regression-icl"]  # no tokenizer, no transformers counterpart


def test_the_course_ships_its_checkpoints_small():
    assert checkpoints.available() == sorted(BUNDLED + NATIVE)
    total = sum(f.stat().st_size for f in checkpoints.CHECKPOINT_DIR.rglob("*") if f.is_file())
    assert total < 40 * 2**20, f"bundled checkpoints take {total / 2**20:.1f} MiB; keep them in the tens of MB"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_loads_verified_and_records_its_recipe_figures(name):
    bundle = checkpoints.load(name)
    meta = checkpoints.info(name)
    assert meta["recipe"] == f"python -m lmnotes.recipes {name}"
    assert meta["figures"]["steps"] > 100
    ids = torch.tensor([bundle.tokenizer.encode("to be or not" if "shakespeare" in name else "the cat is happy .")])
    with torch.no_grad():
        logits = bundle.model(ids)
    assert logits.shape == (1, ids.shape[1], bundle.model.config.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", NATIVE)
def test_native_bundle_loads_verified_and_records_its_recipe_figures(name):
    bundle = checkpoints.load(name)
    assert bundle.meta["recipe"] == f"python -m lmnotes.recipes {name}" and bundle.meta["figures"]["steps"] > 100
    assert bundle.tokenizer is None and not bundle.model.training


def test_corrupt_or_incomplete_bundle_is_refused(tmp_path):
    src = checkpoints.path("toyworld-bert")
    bad = tmp_path / "toyworld-bert"
    shutil.copytree(src, bad)
    data = bytearray((bad / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (bad / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt or was modified"):
        checkpoints.load_folder(bad)
    (bad / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="missing \\['tokenizer.json'\\]"):
        checkpoints.load_folder(bad)


@pytest.mark.parametrize("file, edit", [
    ("config.json", lambda text: text.replace('"num_hidden_layers": 4', '"num_hidden_layers": 3')),
    ("tokenizer.json", lambda text: text.replace('"<unk>"', '"<UNK>"', 1)),
    ("tokenizer_config.json", lambda text: text.replace("{", '{"model_max_length": 7, ', 1)),
    ("lmnotes.json", lambda text: text.replace('"description": "', '"description": "EDITED ', 1)),
])
def test_every_file_of_a_bundle_is_verified(tmp_path, file, edit):
    bad = tmp_path / "toyworld-bert"
    shutil.copytree(checkpoints.path("toyworld-bert"), bad)
    checkpoints.verify(bad)  # the intact copy passes
    text = (bad / file).read_text()
    assert edit(text) != text, "the edit must change the file"
    (bad / file).write_text(edit(text))
    with pytest.raises(ValueError, match=f"{file}.*(sha256|edited)|(edited|sha256).*{file}"):
        checkpoints.load_folder(bad)


def test_a_bundle_with_an_unreadable_record_or_a_bad_folder_gets_a_clear_error(tmp_path):
    bad = tmp_path / "toyworld-bert"
    shutil.copytree(checkpoints.path("toyworld-bert"), bad)
    (bad / "lmnotes.json").write_text("{not json")
    with pytest.raises(ValueError, match="lmnotes.json is not valid JSON"):
        checkpoints.load_folder(bad)
    with pytest.raises(ValueError, match="folder"):
        checkpoints.load_folder(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="folder"):
        checkpoints.load_folder(3)
    with pytest.raises(TypeError, match="name"):
        checkpoints.load(None)


def test_unknown_name_lists_what_is_available():
    with pytest.raises(ValueError, match="toyworld-gpt"):
        checkpoints.load("gpt-5")

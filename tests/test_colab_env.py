"""Colab's preinstalled versions are accepted as they are (pyproject.toml's promise), and every
widget builder is driven by a test, so the unit tests under Colab's versions cover them all.

``./course test`` also runs the unit tests in .venv-colab, made from requirements-colab.txt, where
lmnotes is installed as a Colab notebook's setup cell installs it; there (``LMNOTES_COLAB_ENV=1``)
this file also checks that the install left Colab's versions as they were.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from lmnotes import widgets

ROOT = Path(__file__).resolve().parents[1]
IN_COLAB_ENV = os.environ.get("LMNOTES_COLAB_ENV") == "1"


def _colab_pins() -> dict[str, str]:
    """Colab's packages and versions: requirements-colab.txt's lines before its test tools."""
    text = (ROOT / "requirements-colab.txt").read_text().split("# test tools only", 1)[0]
    return dict(line.split("==") for line in text.splitlines() if line and not line.startswith("#"))


def test_colab_pins_are_the_versions_the_conventions_list():
    pins = _colab_pins()
    assert {name: ".".join(v.split(".")[:2]) for name, v in pins.items()} == {
        "torch": "2.13", "transformers": "5.15", "tokenizers": "0.22", "ipywidgets": "7.7",
        "numpy": "2.1", "matplotlib": "3.10", "ipykernel": "6.17"}
    assert pins["ipywidgets"] == "7.7.1"
    course_torch = re.search(r"^torch==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert pins["torch"] == course_torch, "torch stays at the course pin (no CPU build of Colab's here)"


def test_pyproject_accepts_every_colab_version_as_it_is():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {Requirement(dep).name.lower(): Requirement(dep).specifier for dep in dependencies}
    for name, version in _colab_pins().items():
        if name in ranges:
            assert ranges[name].contains(version), f"pyproject.toml's {name}{ranges[name]} rejects Colab's {version}"


@pytest.mark.skipif(not IN_COLAB_ENV, reason="only in the Colab-versions environment (./course test makes it)")
def test_installing_lmnotes_left_colabs_versions_alone():
    installed = {name: importlib.metadata.version(name) for name in _colab_pins()}
    assert {name: v.split("+")[0] for name, v in installed.items()} == _colab_pins()
    direct_url = json.loads(importlib.metadata.distribution("lmnotes").read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable", False), "Colab's install is a regular one"
    import ipywidgets

    assert ipywidgets.__version__ == "7.7.1"


def test_every_widget_builder_is_driven_by_a_unit_test():
    """Each public function of lmnotes.widgets (but the ``*_html`` renderers, which the builders call)
    is called in some test under tests/."""
    public = [name for name, f in inspect.getmembers(widgets, inspect.isfunction)
              if not name.startswith("_") and not name.endswith("_html") and f.__module__ == widgets.__name__]
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    untested = [name for name in public if f"widgets.{name}(" not in sources]
    assert public and untested == [], f"no test calls lmnotes.widgets.{untested}"

"""Where the course lives, and the header every notebook opens with.

The repository address and the ref that notebooks pin live here and nowhere else: the badges and
the Colab setup cell of every notebook are generated from these values (``tools/notebooks.py
stamp``) and a test checks that each notebook agrees with them.
"""

from __future__ import annotations

from lmnotes import __version__

#: GitHub owner/name of the course repository.
REPOSITORY = "lmnotes/lmnotes"
#: The git ref notebooks pin: the release tag of this package version, so that a notebook opened
#: from that tag installs the package it was written against.
REF = f"v{__version__}"

_GITHUB = "https://github.com"


def repository_url() -> str:
    return f"{_GITHUB}/{REPOSITORY}"


def colab_url(notebook: str) -> str:
    """Open-in-Colab address of ``notebooks/<notebook>`` at :data:`REF`."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{REF}/notebooks/{_name(notebook)}"


def binder_url(notebook: str) -> str:
    """Binder address that builds :data:`REF` and opens ``notebooks/<notebook>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{REF}?urlpath=lab/tree/notebooks/{_name(notebook)}"


def badges_markdown(notebook: str) -> str:
    """The badge line that opens every notebook's first markdown cell."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)}) "
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"
    )


def setup_cell_source() -> str:
    """The first code cell of every notebook: on Colab only, install lmnotes from :data:`REF`.

    A regular (not editable) install, because an editable one is not visible to the running kernel.
    Elsewhere (local, Binder, CI) the package is already installed and the cell prints nothing.
    """
    return (
        "# Setup: on Colab, install the course's helper package (pinned to this notebook's release).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "lmnotes @ git+{repository_url()}@{REF}"'
    )


def _name(notebook: str) -> str:
    name = notebook.rsplit("/", 1)[-1]
    if not name.endswith(".ipynb"):
        raise ValueError(f"expected a notebook file name ending in .ipynb, got {notebook!r}")
    return name

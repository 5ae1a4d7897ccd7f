"""Sphinx configuration of the course website (``./course site``; see tools/site.py).

MyST-NB renders the committed, executed notebooks as they are (``nb_execution_mode = "off"``), the
book theme gives the sidebar, the search box and each notebook's Colab and Binder launch buttons
(built from lmnotes.course's repository and ref), and MathJax is served from the site itself.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmnotes import __version__, course  # noqa: E402
from tools.site import MATHJAX_DIR, copy_mathjax  # noqa: E402

project = "lmnotes"
author = "the lmnotes authors"
copyright = "lmnotes authors, MIT licence"
release = __version__
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# the notebooks are shown with the outputs they were committed with: never re-executed here
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_update_mathjax = False  # MyST would write a MathJax 3 config; the bundled MathJax is 2 (below)
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# math with no network: MathJax 2 (bundled by jupyter-server-mathjax) copied into _static/
mathjax_path = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
# (that build ships the STIX-Web fonts only: tell MathJax so, as Jupyter's classic notebook did)
mathjax2_config = {
    "messageStyle": "none",
    # MyST marks each page "tex2jax_ignore" and its math elements "math": typeset those only
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processClass": "math|tex2jax_process|mathjax_process|output_area"},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
}

html_theme = "sphinx_book_theme"
html_title = "lmnotes: foundations of LLMs, measured"
html_theme_options = {
    "repository_url": course.repository_url(),
    "repository_branch": course.REF,
    "path_to_docs": "",
    "use_repository_button": True,
    "show_toc_level": 2,
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
}


def setup(app):
    app.connect("build-finished", copy_mathjax)

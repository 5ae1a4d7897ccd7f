"""Build the course website from the committed notebooks: ``python tools/site.py`` (``./course site``).

    python tools/site.py [--out DIR]     build the site into DIR (default build/site/html)

Nothing is executed: the notebooks are shown with the outputs they were committed with. The pages
follow the course map (:data:`lmnotes.course.CHAPTERS`), chapter by chapter, and hold every notebook
of the map that exists in notebooks/ (so a notebook appears as soon as it ships). The landing page
is the README's course table; the course's claims (read from the notebooks' ledgers) and the
instructors' guide docs/teaching.md are pages too. The sources
are staged in a folder beside the output (a copy: nothing under notebooks/ is touched) and built by
Sphinx with site/conf.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import lmnotes from this checkout
    sys.path.insert(0, str(ROOT))

from lmnotes import claims, course  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "site" / "html"
#: Pages besides the notebooks: (source in the repository, its place on the site).
EXTRA_PAGES = [("docs/teaching.md", "docs/teaching.md")]
#: The page built from the notebooks' claims ledgers (lmnotes.claims.markdown_report).
CLAIMS_PAGE = "claims.md"
#: Where MathJax lies inside the built site's _static/ folder.
MATHJAX_DIR = "mathjax"


def site_chapters() -> list[dict]:
    """The course map's chapters, each with only its notebooks that exist in notebooks/, in order."""
    chapters = []
    for chapter in course.CHAPTERS:
        present = [nb for nb in chapter["notebooks"] if (NOTEBOOKS / nb["file"]).is_file()]
        if present:
            chapters.append({**chapter, "notebooks": present})
    return chapters


def course_table(readme: str) -> str:
    """The README's course table (the lines of its first table under "## The course")."""
    section = readme.split("\n## The course\n", 1)
    if len(section) != 2:
        raise ValueError("README.md has no '## The course' section")
    lines = []
    for line in section[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    if len(lines) < 3:
        raise ValueError("README.md's '## The course' section does not start with a table")
    return "\n".join(lines)


def landing_page(readme: str, chapters: list[dict]) -> str:
    """index.md: the README's title, its course table with each notebook linked, and the toctrees."""
    title = readme.splitlines()[0].lstrip("# ").strip()
    table = course_table(readme)
    for nb in (nb for ch in chapters for nb in ch["notebooks"]):
        stem = nb["file"].removesuffix(".ipynb")
        table = table.replace(f"| `{stem}` |", f"| [`{stem}`](notebooks/{nb['file']}) |")
    parts = [
        f"# {title}",
        "",
        "An interactive Jupyter course on *Foundations of Large Language Models* (Xiao and Zhu, 2025;"
        " [arXiv 2501.09223](https://arxiv.org/abs/2501.09223)). Every notebook trains, runs and prints"
        " the number behind each claim, on a laptop CPU. Each page below is a notebook as committed,"
        " with its outputs; the rocket button of a page opens it in Colab or Binder.",
        "",
        "## The course",
        "",
        table,
        "",
        "The course map (`lmnotes.course`, shown in notebook 00) lists the chapters and notebooks in"
        " order; the sidebar follows it. [The course's claims](claims.md) lists every measured claim with"
        " its computed verdict. Instructors: see [Teaching with lmnotes](docs/teaching.md).",
        "",
    ]
    for chapter in chapters:
        caption = f"{chapter['number']} · {chapter['title']}"
        if chapter["sections"]:
            caption += f" ({chapter['sections']})"
        entries = "\n".join(f"notebooks/{nb['file'].removesuffix('.ipynb')}" for nb in chapter["notebooks"])
        parts += ["```{toctree}", f":caption: {caption}", ":hidden:", "", entries, "```", ""]
    parts += ["```{toctree}", ":caption: The claims", ":hidden:", "", CLAIMS_PAGE.removesuffix(".md"), "```", ""]
    entries = "\n".join(page.removesuffix(".md") for _, page in EXTRA_PAGES)
    parts += ["```{toctree}", ":caption: For instructors", ":hidden:", "", entries, "```", ""]
    return "\n".join(parts)


def stage(source: Path) -> None:
    """Lay out the site's sources in ``source``: index.md, notebooks/ (copies) and the extra pages."""
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    chapters = site_chapters()
    for nb in (nb for ch in chapters for nb in ch["notebooks"]):
        notebook = nbformat.read(NOTEBOOKS / nb["file"], as_version=4)
        # the page's launch buttons replace the badge line (its images would need the network)
        first = notebook.cells[0]
        first.source = first.source.replace(course.badges_markdown(nb["file"]), "", 1).lstrip("\n")
        nbformat.write(notebook, source / "notebooks" / nb["file"])
    for origin, page in EXTRA_PAGES:
        (source / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / origin, source / page)
    (source / CLAIMS_PAGE).write_text(claims.markdown_report(claims.collect(NOTEBOOKS)))
    (source / "index.md").write_text(landing_page((ROOT / "README.md").read_text(), chapters))


def copy_mathjax(app, exception) -> None:
    """Sphinx ``build-finished`` hook: put the bundled MathJax into the site's _static/ folder."""
    if exception is None and app.builder.format == "html":
        import jupyter_server_mathjax

        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static",
                        Path(app.outdir) / "_static" / MATHJAX_DIR, dirs_exist_ok=True)


def build(out: Path = DEFAULT_OUT) -> int:
    """Stage the sources beside ``out`` and build the HTML site into it; Sphinx's exit status."""
    from sphinx.cmd.build import build_main

    out = Path(out).resolve()
    source = out.parent / "src"
    stage(source)
    return build_main(["-b", "html", "-q", "-c", str(ROOT / "site"), "-d", str(out.parent / "doctrees"),
                       str(source), str(out)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    status = build(args.out)
    if status == 0:
        print(f"site built: {args.out.resolve() / 'index.html'}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""The course website (``./course site``): its pages follow the course map, and in a real browser,
offline, every notebook's page shows its math typeset, its plots, and launch links to itself.

The build uses the committed notebooks as they are (nothing runs). The browser part serves the
built site on 127.0.0.1, refuses every request that would leave the machine, and leaves screenshots
in ``test-output/site/`` for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import nbformat
import pytest

from lmnotes import course
from tools import site

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "site"
#: Playwright waits at most this long for a page, a typeset or a click (its default is 30 s).
WAIT_MS = 120_000
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
README = (ROOT / "README.md").read_text()


def _present() -> list[str]:
    return [nb["file"] for nb in course.course_notebooks() if (ROOT / "notebooks" / nb["file"]).is_file()]


def test_site_pages_are_the_course_maps_notebooks_that_exist_in_its_order():
    pages = [nb["file"] for ch in site.site_chapters() for nb in ch["notebooks"]]
    assert pages == _present()
    assert pages[0] == "00_start_here.ipynb"


def test_landing_page_is_the_readme_table_with_every_notebook_linked_and_in_the_sidebar():
    index = site.landing_page(README, site.site_chapters())
    assert site.course_table(README) in README
    for file in _present():
        stem = file.removesuffix(".ipynb")
        assert f"[`{stem}`](notebooks/{file})" in index, f"{stem} is not linked from the landing page"
        assert f"\nnotebooks/{stem}\n" in index, f"{stem} is not in a toctree (the sidebar)"
    captions = [line for line in index.splitlines() if line.startswith(":caption:")]
    assert captions[-2:] == [":caption: The claims", ":caption: For instructors"]
    assert "[The course's claims](claims.md)" in index
    assert captions[0] == ":caption: 0 · Start here"


def test_course_table_needs_the_readmes_section():
    with pytest.raises(ValueError, match="The course"):
        site.course_table("# a readme\n\nno table here\n")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the site builder is installed by ./course site and ./course test "
                                         "(requirements-site.txt)")
    out = tmp_path_factory.mktemp("site") / "html"
    assert site.build(out) == 0
    return out


def test_site_build_leaves_the_notebooks_alone_and_holds_every_page(built_site):
    for file in _present():
        assert (built_site / "notebooks" / file.replace(".ipynb", ".html")).is_file()
    assert (built_site / "docs" / "teaching.html").is_file()
    claims_page = (built_site / site.CLAIMS_PAGE.replace(".md", ".html")).read_text()
    assert "<h1>The course’s claims, measured" in claims_page  # Sphinx's smart quotes
    assert "The course: " in claims_page and "claims: " in claims_page
    assert (built_site / "_static" / site.MATHJAX_DIR / "MathJax.js").is_file(), "MathJax must be bundled"
    assert (built_site / "searchindex.js").is_file()


@pytest.fixture(scope="module")
def served(built_site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# every .math element of the page typeset by MathJax (and none of them a TeX error); MathJax 2's
# own output holds spans of class "math" too, which are not the page's
MATH = """() => {
    const all = [...document.querySelectorAll('article .math')].filter(e => !e.closest('.MathJax, .MathJax_Display'));
    return {total: all.length,
            typeset: all.filter(e => e.querySelector('.MathJax, .MathJax_Display, .MathJax_SVG')).length,
            errors: document.querySelectorAll('article .MathJax .merror, article .MathJax_Display .merror').length};
}"""
PLOTS = """() => [...document.querySelectorAll('article .cell_output img')]
                 .map(img => img.complete && img.naturalWidth > 0)"""


def _stored_images(file: str) -> int:
    notebook = nbformat.read(ROOT / "notebooks" / file, as_version=4)
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def _has_math(file: str) -> bool:
    notebook = nbformat.read(ROOT / "notebooks" / file, as_version=4)
    return any(cell.cell_type == "markdown" and "$" in cell.source for cell in notebook.cells)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"the browser test needs Debian's chromium at {CHROMIUM} "
                    "(`./course test` installs it with apt-get when run as root; or: apt-get install chromium)")
def test_every_page_renders_math_plots_and_launch_links_offline(served):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside, page_errors, seen = [], [], {}

    def offline(route):
        if route.request.url.startswith(served):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # generous: in the suite this page shares 2 cores with notebooks training on the other worker
            page.set_default_timeout(WAIT_MS)
            page.route("**/*", offline)
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            page.goto(f"{served}/index.html")
            sidebar = page.eval_on_selector_all(
                "nav.bd-links a.reference.internal", "links => links.map(a => a.getAttribute('href'))")
            page.screenshot(path=SCREENSHOTS / "index.png")

            for file in _present():
                stem = file.removesuffix(".ipynb")
                page.goto(f"{served}/notebooks/{stem}.html")
                # MathJax 2 typesets in passes and may re-render (when a web font arrives): wait for
                # its startup, then for its queue to drain, before counting
                page.wait_for_function(f"() => ({MATH})().total === 0 || (window.MathJax && MathJax.isReady)")
                page.evaluate("() => window.MathJax && MathJax.Hub"
                              " ? new Promise(done => MathJax.Hub.Queue(() => done(true))) : true")
                page.wait_for_function(f"() => ({MATH})().typeset === ({MATH})().total")
                page.wait_for_function(f"() => ({PLOTS})().every(Boolean)")
                seen[file] = {
                    "title": page.inner_text("article h1"),
                    "math": page.evaluate(MATH),
                    "plots": page.evaluate(PLOTS),
                    "colab": page.eval_on_selector_all("a[href^='https://colab.research.google.com/github']",
                                                       "links => links.map(a => a.href)"),
                    "binder": page.eval_on_selector_all("a[href^='https://mybinder.org/v2']",
                                                        "links => links.map(a => a.href)"),
                }
                page.click("button[aria-label='Launch interactive content']")
                page.screenshot(path=SCREENSHOTS / f"{stem}.png")
                if seen[file]["plots"]:
                    page.locator("article .cell_output img").first.scroll_into_view_if_needed()
                    page.screenshot(path=SCREENSHOTS / f"{stem}-plot.png")
                if seen[file]["math"]["total"]:
                    page.locator("article .math").last.scroll_into_view_if_needed()
                    page.screenshot(path=SCREENSHOTS / f"{stem}-math.png")

            page.goto(f"{served}/search.html?q=perplexity")
            page.wait_for_selector("#search-results li")
            hits = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.getAttribute('href'))")
            page.screenshot(path=SCREENSHOTS / "search.png")
        finally:
            browser.close()

    assert outside == [], "the site must work offline"
    assert page_errors == []
    pages = [href.split("#")[0] for href in sidebar if href.startswith("notebooks/")]
    assert pages == [f"notebooks/{file.replace('.ipynb', '.html')}" for file in _present()], "sidebar in map order"
    for file, shown in seen.items():
        assert shown["title"].strip(), file
        assert shown["math"]["typeset"] == shown["math"]["total"] and shown["math"]["errors"] == 0, (file, shown)
        assert shown["math"]["total"] >= _has_math(file), f"{file}: its math did not render"
        assert len(shown["plots"]) == _stored_images(file), f"{file}: a stored plot is missing from its page"
        assert set(shown["colab"]) == {course.colab_url(file)}, (file, shown["colab"])
        assert set(shown["binder"]) == {course.binder_url(file)}, (file, shown["binder"])
        if file != "00_start_here.ipynb":  # the guide to the course; every other notebook plots
            assert shown["plots"], f"{file}: no plot on its page"
    assert any("03_self_supervised_objectives" in hit for hit in hits), hits

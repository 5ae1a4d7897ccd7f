"""The course in a real browser: JupyterLab opens a notebook, runs it, and its widget is driven.

nbval replays outputs but never renders them; these tests do what a learner does. They start
JupyterLab with ``./course lab`` (the README's command) over a temporary copy of the notebooks, so
nothing is saved over the sources, and drive Debian's chromium through Playwright. The start-here
notebook runs top to bottom, as a smoke test of the whole path (a screenshot of the result is left in
``test-output/browser/`` for a person to look at). Notebooks 05-13 run only the cells their widget
needs, the ones tagged ``browser-widget`` (nbval already runs each notebook whole): the stored outputs
are cleared, the tagged cells run in order (their execution counts must read 1..n), none may store an
error, and then the widget is driven.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "00_start_here.ipynb"
SCREENSHOTS = ROOT / "test-output" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"the browser test needs Debian's chromium at {CHROMIUM} "
           "(`./course test` installs it with apt-get when run as root; or: apt-get install chromium)",
)

# JavaScript run in the page against JupyterLab's application object (exposed by expose_app_in_browser).
NOTEBOOK_PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{
    const panel = {NOTEBOOK_PANEL};
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}}"""
WIDGET_TAG = "browser-widget"
TAGS = "cell => cell.model.getMetadata('tags') || []"  # JupyterLab 4's cell model API
CODE_CELLS = f"""(onlyTagged) => {{
    const tags = {TAGS};
    const cells = {NOTEBOOK_PANEL}.content.widgets.filter(
        cell => cell.model.type === 'code' && (!onlyTagged || tags(cell).includes('{WIDGET_TAG}')));
    return cells.map(cell => ({{
        count: cell.model.executionCount,
        outputs: cell.model.outputs.toJSON().map(output => output.output_type === 'error'
                 ? 'error: ' + output.ename + ': ' + output.evalue : output.output_type),
    }}));
}}"""
# Clear every stored output, then run the tagged cells one after the other, each run awaited. The page
# does this in the background and records its progress in window.lmnotesRun, which the test polls
# with a timeout (page.evaluate itself has none).
RUN_TAGGED = f"""() => {{
    const app = window.jupyterapp, notebook = {NOTEBOOK_PANEL}.content, tags = {TAGS};
    window.lmnotesRun = {{done: false, ran: 0, error: null}};
    (async () => {{
        await app.commands.execute('notebook:clear-all-cell-outputs');
        for (let i = 0; i < notebook.widgets.length; i++) {{
            if (notebook.widgets[i].model.type === 'code' && tags(notebook.widgets[i]).includes('{WIDGET_TAG}')) {{
                notebook.activeCellIndex = i;
                await app.commands.execute('notebook:run-cell');
                window.lmnotesRun.ran += 1;
            }}
        }}
    }})().catch(error => {{ window.lmnotesRun.error = String(error); }})
      .finally(() => {{ window.lmnotesRun.done = true; }});
}}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(server: subprocess.Popen) -> None:
    """Stop the server's process group, then anything it started in a session of its own (kernels)."""
    try:
        family = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # jupyter shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def lab(tmp_path):
    """Base URL of a JupyterLab started by ``./course lab`` over a copy of notebooks/."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port = _free_port()
    env = {
        **os.environ,
        "LMNOTES_LAB_DIR": str(tmp_path),
        # JupyterLab's own state (workspaces, settings, connection files) stays out of the user's home
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    # no "would you like Jupyter news?" toast over the screenshot (and no request for the news)
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(ROOT / "course"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
             "--ServerApp.token=", "--ServerApp.disable_check_xsrf=True",
             "--LabApp.expose_app_in_browser=True", "--allow-root"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        _stop(server)


def test_start_here_runs_in_jupyterlab_and_renders_its_widget(lab):
    from playwright.sync_api import expect, sync_playwright

    source = (ROOT / "notebooks" / NOTEBOOK).read_bytes()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOTS / NOTEBOOK.replace(".ipynb", ".png")
    page_errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(f"{lab}/lab/tree/notebooks/{NOTEBOOK}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)

            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(f"() => ({CODE_CELLS})(false).every(cell => cell.count !== null)", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000)
            page.wait_for_selector(".jp-OutputArea-output .jupyter-widgets", timeout=30_000)
            cells = page.evaluate(CODE_CELLS, False)

            # the widget is live: choosing another chapter in its drop-down changes what it shows
            widget = page.locator(".jp-OutputArea-output:has(.jupyter-widgets)").first
            widget.scroll_into_view_if_needed()
            shown = widget.inner_text()
            choice = widget.locator("select").first
            last = choice.locator("option").all_inner_texts()[-1]
            choice.select_option(label=last)
            expect(widget).not_to_have_text(shown, timeout=10_000)
            page.screenshot(path=screenshot)
        finally:
            browser.close()

    assert [cell["count"] for cell in cells] == list(range(1, len(cells) + 1)), "run top to bottom once"
    errors = [output for cell in cells for output in cell["outputs"] if output.startswith("error")]
    assert errors == []
    assert page_errors == []
    assert screenshot.stat().st_size > 10_000
    assert (ROOT / "notebooks" / NOTEBOOK).read_bytes() == source, "the browser must not save over the sources"


class _Run:
    """What a notebook run in the browser left: its page errors, then (after the run) its cells."""
    page_errors: list
    cells: list


def tagged_cells(notebook: str) -> list[int]:
    """Indices (among all cells) of ``notebook``'s code cells tagged for its widget."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    tagged = [i for i, cell in enumerate(cells) if WIDGET_TAG in cell.get("metadata", {}).get("tags", [])]
    wrong = [i for i in tagged if cells[i]["cell_type"] != "code"]
    assert not wrong, f"{notebook}: only code cells run; cells {wrong} carry {WIDGET_TAG!r} but are not code"
    return tagged


@contextlib.contextmanager
def notebook_in_lab(lab, notebook: str, timeout_ms: int = 180_000):
    """Open ``notebook`` in JupyterLab, clear its stored outputs, run only the cells tagged
    ``browser-widget`` in order, wait until they all ran and the kernel is idle, and yield
    ``(page, run)`` to drive its widget. Afterwards: no tagged cell stored an error and the source
    notebook was not saved over; ``run.cells`` and ``run.page_errors`` are left for more checks."""
    tagged = tagged_cells(notebook)
    assert len(tagged) >= 2, f"{notebook}: tag the cells its widget needs with {WIDGET_TAG!r} (found {tagged})"
    from playwright.sync_api import sync_playwright

    source = (ROOT / "notebooks" / notebook).read_bytes()
    run = _Run()
    run.page_errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("pageerror", lambda error: run.page_errors.append(str(error)))
            page.goto(f"{lab}/lab/tree/notebooks/{notebook}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            page.evaluate(RUN_TAGGED)
            page.wait_for_function("() => window.lmnotesRun.done", timeout=timeout_ms)
            assert page.evaluate("() => window.lmnotesRun") == {"done": True, "ran": len(tagged), "error": None}
            page.wait_for_function(f"() => ({CODE_CELLS})(true).every(cell => cell.count !== null)", timeout=timeout_ms)
            page.wait_for_function(KERNEL_IDLE, timeout=timeout_ms)
            ran = page.evaluate(CODE_CELLS, True)
            assert [cell["count"] for cell in ran] == list(range(1, len(tagged) + 1)), "the tagged cells, once each, in order"
            errors = [output for cell in ran for output in cell["outputs"] if output.startswith("error")]
            assert errors == [], f"{notebook}: a tagged cell failed (does it need an untagged cell?): {errors}"
            yield page, run
            run.cells = page.evaluate(CODE_CELLS, True)
        finally:
            browser.close()
    assert [output for cell in run.cells for output in cell["outputs"] if output.startswith("error")] == []
    assert (ROOT / "notebooks" / notebook).read_bytes() == source, "the browser must not save over the sources"


def widget_output(page, has: str, showing: str | None = None):
    """The first output area holding ``has`` (a CSS selector), scrolled into view; with ``showing``,
    once it shows that text."""
    from playwright.sync_api import expect

    widget = page.locator(f".jp-OutputArea-output:has({has})").first
    widget.scroll_into_view_if_needed()
    if showing is not None:
        expect(widget).to_contain_text(showing, timeout=30_000)
    return widget


def nudge_slider(page, widget, steps: int) -> None:
    """Focus the widget's first slider and press the right arrow ``steps`` times.

    Focus, not a click: on a loaded machine a click on the handle can land as a drag and move it."""
    widget.locator(".noUi-handle, .ui-slider-handle").first.focus()
    for _ in range(steps):
        page.keyboard.press("ArrowRight")


def test_decoder_only_decoding_widget_changes_its_text(lab):
    """05_decoder_only: choosing greedy in the decoding explorer replaces the top-p continuation."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "05_decoder_only.ipynb") as (page, _):
        widget = widget_output(page, ".lmnotes-decoded")
        shown = widget.locator(".lmnotes-decoded").inner_text()
        widget.locator("select").first.select_option(label="greedy")
        expect(widget.locator(".lmnotes-decoded")).not_to_have_text(shown, timeout=30_000)


def test_training_at_scale_compute_optimal_slider_changes_the_split(lab):
    """Notebook 06: moving the compute-budget slider changes the N_opt / D_opt it shows."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "06_training_at_scale.ipynb") as (page, _):
        widget = widget_output(page, ".widget-slider")
        shown = widget.inner_text()
        assert "N_opt" in shown
        nudge_slider(page, widget, 5)
        expect(widget).not_to_have_text(shown, timeout=10_000)


def test_long_sequences_extrapolation_explorer_follows_its_scheme_picker(lab):
    """07's widget: picking another position scheme changes the loss line it shows."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "07_long_sequences.ipynb") as (page, _):
        widget = widget_output(page, ".widget-dropdown", "learned")
        widget.locator("select").first.select_option(label="alibi")
        expect(widget).to_contain_text("16x the training length", timeout=10_000)


def test_in_context_learning_prompt_builder_follows_its_controls(lab):
    """Notebook 08's prompt builder: choosing another label-word set rewrites the prompt it shows."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "08_in_context_learning.ipynb") as (page, run):
        widget = widget_output(page, ".widget-slider", "lion -> animal . pear -> fruit . cow ->")
        widget.locator("select").nth(1).select_option(label="yes / no")
        expect(widget).to_contain_text("lion -> yes . pear -> no . cow ->", timeout=10_000)
    assert run.page_errors == []


def test_rlhf_kl_tradeoff_explorer_follows_its_beta(lab):
    """Notebook 12's KL trade-off: choosing beta = 0 shows that run's end (gold falls, KL grows)."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "12_rlhf.ipynb") as (page, run):
        widget = widget_output(page, ".widget-dropdown", "beta = 3 after")
        widget.locator("select").first.select_option(label="beta = 0")
        expect(widget).to_contain_text("beta = 0 after", timeout=10_000)
    assert run.page_errors == []


def test_instruction_alignment_cascade_slider_changes_the_accuracy(lab):
    """Notebook 11: moving the cascade's slider changes the share sent to the strong model it reports."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "11_instruction_alignment.ipynb") as (page, _):
        widget = widget_output(page, ".lmnotes-cascade", "30% sent to the strong model")  # it opens at 0.3
        nudge_slider(page, widget, 3)  # 0.3 -> 0.4 -> 0.5 -> 0.6
        expect(widget).to_contain_text("60% sent to the strong model", timeout=10_000)


def test_advanced_prompting_voting_explorer_follows_its_votes_slider(lab):
    """Notebook 09's voting explorer: more votes change the vote it shows for the first problem."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "09_advanced_prompting.ipynb") as (page, run):
        widget = widget_output(page, ".widget-slider", "majority vote: 182 (wrong)")
        nudge_slider(page, widget, 8)  # k = 1 -> 9
        expect(widget).to_contain_text("majority vote: 181 (right)", timeout=10_000)


def test_learning_to_prompt_trainable_share_explorer_follows_its_method(lab):
    """Notebook 10's trainable-share explorer: choosing full fine-tuning shows 100% trainable."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "10_learning_to_prompt.ipynb") as (page, run):
        widget = widget_output(page, ".widget-slider", "lora")
        widget.locator("select").first.select_option(label="full")
        expect(widget).to_contain_text("= 100%", timeout=10_000)


def test_beyond_rlhf_best_of_n_explorer_follows_n(lab):
    """Notebook 13's best-of-N explorer: choosing N = 16 shows that row and its KL formula."""
    from playwright.sync_api import expect

    with notebook_in_lab(lab, "13_beyond_rlhf.ipynb") as (page, run):
        widget = widget_output(page, ".lmnotes-best-of-n", "best of 1")
        widget.locator("select").first.select_option(label="16")
        expect(widget).to_contain_text("best of 16", timeout=10_000)
        expect(widget).to_contain_text("= 1.835", timeout=10_000)
    assert run.page_errors == []

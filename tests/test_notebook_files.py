"""Every committed notebook is what a learner should see: one clean, complete, fresh run.

nbval replays the stored outputs, so they must come from a single top-to-bottom run (``./course
execute``): every code cell executed, counts 1..n, no stored error, no warning printed to the
learner, and no path of the machine that produced them. The checker works on any notebook file;
the unit tests below feed it small notebooks with each defect so that it is known to catch them.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from bench.notebooks import run_notebook
from lmnotes import course
from tools import notebooks as tools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MACHINE_PATH = re.compile(r"/root/|/tmp/|/work/|/home/\w+/|site-packages")
WARNING = re.compile(r"warn", re.IGNORECASE)


def _output_text(output) -> str:
    """The text a learner sees in one output (images are base64 and not text)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join([output.ename, output.evalue, *output.traceback])
    return "\n".join(
        value if isinstance(value, str) else str(value)
        for mime, value in output.get("data", {}).items()
        if not mime.startswith("image/")
    )


def notebook_problems(path: Path) -> list[str]:
    """Everything wrong with the stored run of the notebook at ``path`` (empty when it is clean)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    counts = [cell.execution_count for cell in code]
    never = sum(count is None for count in counts)
    if never:
        problems.append(f"{never} code cell(s) never executed")
    elif counts != list(range(1, len(code) + 1)):
        problems.append(f"not executed top to bottom in one fresh run: counts {counts}")
    for number, cell in enumerate(code, 1):
        for output in cell.get("outputs", []):
            text = _output_text(output)
            if output.output_type == "error":
                problems.append(f"code cell {number} stores an error: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr" and WARNING.search(text):
                problems.append(f"code cell {number} shows a warning: {text.strip()[:120]!r}")
            leak = MACHINE_PATH.search(text)
            if leak:
                problems.append(f"code cell {number} shows a machine path ({leak.group(0)})")
    if "widgets" in nb.metadata:
        problems.append("stores widget state in its metadata (re-run `./course execute` to strip it)")
    if not tools.made_with(nb):
        problems.append("does not record the kernels its outputs were made with (re-run `./course execute`)")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_one_clean_fresh_run(path):
    assert notebook_problems(path) == []


def test_one_machine_made_every_stored_output():
    # training digits are exact only under the kernels that made them: a mix could pass on no machine
    made = {str(tools.made_with(nbformat.read(path, as_version=4))) for path in NOTEBOOKS}
    assert len(made) == 1, made


# --- the checker itself ------------------------------------------------------------------------

MADE_WITH = {"lmnotes": {"outputs_made_with": {"torch": "2.13.0+cpu", "cpu": "AVX512 kernels on a Xeon"}}}


def _write(tmp_path, cells, name="nb.ipynb", **metadata):
    nb = nbformat.v4.new_notebook(metadata=MADE_WITH | metadata)
    nb.cells = cells
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _ran(source, count, *outputs):
    return nbformat.v4.new_code_cell(source, execution_count=count, outputs=list(outputs))


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_checker_passes_a_clean_run_and_ignores_empty_cells_and_images(tmp_path):
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR/tmp/w0rk/", "text/plain": "<Figure>"})
    path = _write(tmp_path, [
        nbformat.v4.new_markdown_cell("# Title (files live in /tmp/ on Linux)"),
        _ran("print(1)", 1, _stream("1\n")),
        nbformat.v4.new_code_cell(""),
        _ran("plot()", 2, png),
        _ran("progress()", 3, _stream("100%|##########| 3/3\n", name="stderr")),
    ])
    assert notebook_problems(path) == []


@pytest.mark.parametrize("counts, expected", [
    ([1, None], "1 code cell(s) never executed"),
    ([1, 3], "not executed top to bottom in one fresh run: counts [1, 3]"),
    ([2, 1], "not executed top to bottom in one fresh run: counts [2, 1]"),
    ([5, 6], "not executed top to bottom in one fresh run: counts [5, 6]"),
])
def test_checker_requires_one_top_to_bottom_run(tmp_path, counts, expected):
    path = _write(tmp_path, [_ran("x = 1", n) for n in counts])
    assert notebook_problems(path) == [expected]


def test_checker_finds_errors_warnings_and_machine_paths(tmp_path):
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=["Traceback"])
    warning = _stream("<ipython-input>:1: UserWarning: careful\n", name="stderr")
    html = nbformat.v4.new_output("execute_result", data={"text/html": "<a href='/home/alice/x'>x</a>"},
                                  execution_count=4)
    path = _write(tmp_path, [
        _ran("boom()", 1, error),
        _ran("warn()", 2, warning),
        _ran("import torch; torch.__file__", 3, _stream(".venv/lib/python3.11/site-packages/torch\n")),
        _ran("link()", 4, html),
    ])
    assert notebook_problems(path) == [
        "code cell 1 stores an error: ValueError: bad",
        "code cell 2 shows a warning: '<ipython-input>:1: UserWarning: careful'",
        "code cell 3 shows a machine path (site-packages)",
        "code cell 4 shows a machine path (/home/alice/)",
    ]


def test_checker_finds_stored_widget_state_and_unrecorded_kernels(tmp_path):
    path = _write(tmp_path, [_ran("x = 1", 1)], widgets={"application/vnd.jupyter.widget-state+json": {}},
                  lmnotes={})
    assert notebook_problems(path) == [
        "stores widget state in its metadata (re-run `./course execute` to strip it)",
        "does not record the kernels its outputs were made with (re-run `./course execute`)",
    ]


# --- tools/notebooks.py names notebooks as a learner would -----------------------------------

def test_notebooks_are_named_by_stem_file_name_or_number():
    first = sorted(tools.NOTEBOOKS.glob("*.ipynb"))[1]  # 01_...
    number = first.name.split("_")[0]
    assert tools.notebook_paths([number]) == tools.notebook_paths([first.stem]) == tools.notebook_paths([first.name]) == [first]
    with pytest.raises(ValueError, match="no notebook '99'; notebooks/ has: 00_"):
        tools.notebook_paths(["99"])


# --- tools/notebooks.py execute produces exactly such a run -----------------------------------

def test_execute_saves_one_clean_fresh_run_without_widget_state(tmp_path):
    path = _write(tmp_path, [
        nbformat.v4.new_markdown_cell("# A notebook"),
        _ran("x = 41", 7),  # stale counts from an earlier, partial run
        nbformat.v4.new_code_cell("import os\nprint(x + 1, os.path.basename(os.getcwd()))"),
        nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.IntSlider(3)"),
    ], name="tiny.ipynb")
    seconds = tools.execute_file(path)
    assert 0 < seconds < 60
    assert notebook_problems(path) == []
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == course.setup_cell_source()  # stamped before running
    assert [c.execution_count for c in code] == [1, 2, 3, 4]
    assert code[2].outputs[0].text == "42 notebooks\n"  # cwd is notebooks/, like nbval's
    assert "application/vnd.jupyter.widget-view+json" in code[3].outputs[0].data
    assert "widgets" not in nb.metadata and all("execution" not in c.metadata for c in code)
    assert tools.made_with(nb) == tools.this_machine()
    assert tools.machine_note([path]) is None  # made here, so a failure here is not the kernels'


def test_a_failing_run_names_the_kernels_its_notebooks_outputs_were_made_with(tmp_path):
    other = _write(tmp_path, [], name="other.ipynb")
    unrecorded = _write(tmp_path, [], name="old.ipynb", lmnotes={})
    note = tools.machine_note([other, unrecorded, other])
    here = tools.this_machine()
    assert note.startswith(f"This machine: torch {here['torch']}, cpu {here['cpu']}.")
    assert "  other: torch 2.13.0+cpu, cpu AVX512 kernels on a Xeon\n" in note
    assert "  old: kernels not recorded\n" in note
    assert "./course execute" in note


def test_execute_does_not_save_a_failing_run(tmp_path):
    path = _write(tmp_path, [_ran("1 / 0", None)], name="broken.ipynb")
    tools.stamp_file(path)
    before = path.read_text()
    with pytest.raises(tools.CellExecutionError, match="ZeroDivisionError"):
        tools.execute_file(path)
    assert path.read_text() == before


# --- bench/notebooks.py measures the kernel, not itself ----------------------------------------

def test_bench_measures_the_kernels_own_peak_memory_and_its_children(tmp_path):
    # a short-lived 200 MiB peak in the kernel, freed at once: only the kernel's high-water mark sees it
    own = run_notebook(_write(tmp_path, [nbformat.v4.new_code_cell("x = b'1' * (200 * 2**20)\ndel x")],
                              name="own.ipynb"))
    # 150 MiB held for a moment by a process the kernel starts (DataLoader workers would be such)
    child = run_notebook(_write(tmp_path, [nbformat.v4.new_code_cell(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import time; y = b\"2\" * (150 * 2**20); time.sleep(0.5)'])"
    )], name="child.ipynb"))
    bare_kernel = 150  # MiB: an idle ipykernel is about 50
    assert (own.error, child.error) == (None, None)
    assert 200 < own.peak_mib < 200 + bare_kernel
    assert 150 < child.peak_mib < 150 + bare_kernel
    assert child.seconds >= 0.5 and own.verdict == child.verdict == "OK"


def test_bench_reports_a_failing_notebook(tmp_path):
    run = run_notebook(_write(tmp_path, [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]))
    assert run.verdict == "FAILED: ZeroDivisionError in cell 2"


def test_bench_passes_the_words_after_a_benchmark_name_to_it(capsys):
    from bench.__main__ import main as bench_main

    with pytest.raises(ValueError, match="no notebook '99'"):  # reached bench.notebooks.main(["99"])
        bench_main(["notebooks", "99"])
    assert bench_main(["models", "03"]) == 2  # models takes no arguments: refused, nothing run
    with pytest.raises(SystemExit) as refused:  # suite parses its own arguments (only --fresh): nothing run
        bench_main(["suite", "-k", "x"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "benchmark 'models' takes no arguments" in err and "unrecognized arguments: -k x" in err

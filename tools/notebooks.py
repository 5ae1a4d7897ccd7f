"""Keep the course's notebooks in step with the package: re-run them, and stamp their header.

    python tools/notebooks.py execute [NB ...]   stamp, then re-run top to bottom in place
    python tools/notebooks.py stamp [NB ...]     only (re)write the header cells

(``./course execute`` runs the first in the environment the tests use.) NB is a path or a name under
notebooks/, with or without ``.ipynb``; none means every notebook there.

The header every notebook opens with comes from :mod:`lmnotes.course`: a markdown cell starting with
the Colab and Binder badges, and a first code cell that installs lmnotes on Colab only, tagged
``nbval-ignore-output``. Executing saves the outputs and execution counts of one fresh run in a
kernel of this environment (cwd ``notebooks/``), so nbval can replay them, and records in the
notebook's metadata the torch and CPU kernels they were made with: training numbers are exact only
there (docs/DESIGN.md, Tests), and a failing test run names the difference (:func:`machine_note`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import default

from lmnotes import course, doctor

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: Per-cell limit: generous (notebooks aim at ~90 s in total), but a hung cell cannot stall forever.
CELL_TIMEOUT = 600
SETUP_TAG = "nbval-ignore-output"


class _CurrentEnvSpecs(KernelSpecManager):
    """Whatever kernel a notebook names, run it with this environment's Python (as nbval's
    ``--nbval-current-env`` does): a stray user-wide kernelspec must not pick another interpreter."""

    def get_kernel_spec(self, kernel_name):
        return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                      **ipykernel.kernelspec.get_kernel_dict())


class CurrentEnvKernelManager(AsyncKernelManager):
    """A kernel of this environment whose channels are encrypted (CurveZMQ), as ipykernel 7 asks."""

    @default("transport_encryption")
    def _encrypt(self):
        return "auto"

    @default("kernel_spec_manager")
    def _current_env_specs(self):
        return _CurrentEnvSpecs()


def notebook_client(nb: nbformat.NotebookNode, **kwargs) -> NotebookClient:
    """An nbclient client that runs ``nb`` in a fresh kernel of this environment, cwd ``notebooks/``."""
    return NotebookClient(nb, timeout=CELL_TIMEOUT, record_timing=False, kernel_manager_class=CurrentEnvKernelManager,
                          resources={"metadata": {"path": str(NOTEBOOKS)}}, **kwargs)


def notebook_paths(names: list[str]) -> list[Path]:
    """The notebooks named (paths, names under notebooks/ with or without .ipynb, or a notebook's
    number such as ``03``); all when none."""
    if not names:
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    paths = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            path = NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.is_file() and name.isdigit():
            numbered = sorted(NOTEBOOKS.glob(f"{name}_*.ipynb"))
            path = numbered[0] if len(numbered) == 1 else path
        if not path.is_file():
            available = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb"))) or "none"
            raise ValueError(f"no notebook {name!r}; notebooks/ has: {available}")
        paths.append(path)
    return paths


def _is_badge_line(line: str) -> bool:
    return line.startswith("[![Open In Colab]")


def stamp(nb: nbformat.NotebookNode, name: str) -> bool:
    """Make ``nb``'s header agree with :mod:`lmnotes.course`; return whether anything changed.

    The first cell becomes markdown starting with the badge line (an old badge line is replaced, other
    text kept; a notebook starting with code gets a new markdown cell). The first code cell becomes the
    Colab setup cell: an existing setup cell (one mentioning ``google.colab``) is rewritten, otherwise
    a new one is inserted before the first code cell. Everything else is left alone.
    """
    before = nbformat.writes(nb)
    badges = course.badges_markdown(name)
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown":
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(badges))
    else:
        lines = first.source.split("\n")
        if _is_badge_line(lines[0]):
            lines[0] = badges
        else:
            lines[:0] = [badges, ""]
        first.source = "\n".join(lines)

    setup = course.setup_cell_source()
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    if code and "google.colab" in nb.cells[code[0]].source:
        cell = nb.cells[code[0]]
        if cell.source != setup:
            cell.source, cell.outputs, cell.execution_count = setup, [], None
    else:
        cell = nbformat.v4.new_code_cell(setup)
        nb.cells.insert(code[0] if code else len(nb.cells), cell)
    tags = cell.metadata.setdefault("tags", [])
    if SETUP_TAG not in tags:
        tags.append(SETUP_TAG)
    return nbformat.writes(nb) != before


def stamp_file(path: Path) -> bool:
    """Stamp the notebook at ``path`` in place (written only when it changed)."""
    nb = nbformat.read(path, as_version=4)
    changed = stamp(nb, path.name)
    if changed:
        nbformat.write(nb, path)
    return changed


def execute_file(path: Path) -> float:
    """Stamp, then run the notebook at ``path`` top to bottom in a fresh kernel and save it in place.

    Outputs and execution counts are kept; widget state (large, and rebuilt whenever the notebook
    runs) and per-cell timings (noise in every diff) are not. Returns the wall time in seconds. On an
    error the new outputs are not saved and CellExecutionError propagates.
    """
    stamp_file(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    notebook_client(nb, store_widget_state=False).execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    nb.metadata["lmnotes"] = {"outputs_made_with": this_machine()}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def this_machine() -> dict[str, str]:
    """What fixes the last digits of a training run here: torch's version and the CPU kernels."""
    import torch

    return {"torch": torch.__version__, "cpu": doctor.cpu_kernels()}


def made_with(nb: nbformat.NotebookNode) -> dict[str, str] | None:
    """What ``./course execute`` recorded as making ``nb``'s outputs (None when nothing was)."""
    return nb.metadata.get("lmnotes", {}).get("outputs_made_with")


def described(machine: dict[str, str]) -> str:
    return f"torch {machine.get('torch')}, cpu {machine.get('cpu')}"


def machine_note(paths: list[Path]) -> str | None:
    """A note for a test run in which the notebooks at ``paths`` failed, when their stored outputs
    were made with other torch or CPU kernels than this machine's (None when they were not)."""
    here, made = this_machine(), {}
    for path in sorted(set(paths)):
        machine = made_with(nbformat.read(path, as_version=4))
        if machine != here:
            with_ = described(machine) if machine else "kernels not recorded"
            made.setdefault(with_, []).append(path.stem)
    if not made:
        return None
    lines = [f"This machine: {described(here)}. Stored outputs of the failed notebooks were made with:"]
    lines += [f"  {', '.join(stems)}: {with_}" for with_, stems in made.items()]
    lines.append("Training runs end in other digits under other kernels (docs/DESIGN.md, Tests): compare "
                 "on a machine like the one named, or re-execute there with ./course execute.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/notebooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["execute", "stamp"])
    parser.add_argument("notebooks", nargs="*", metavar="NB", help="notebook paths or names (default: all)")
    args = parser.parse_args(argv)
    try:
        paths = notebook_paths(args.notebooks)
    except ValueError as error:
        parser.error(str(error))
    failed = []
    for path in paths:
        if args.command == "stamp":
            print(f"{path.name}: {'stamped' if stamp_file(path) else 'already up to date'}")
            continue
        try:
            seconds = execute_file(path)
        except CellExecutionError as error:
            failed.append(path.name)
            print(f"{path.name}: FAILED, left unchanged\n{error}", file=sys.stderr)
            continue
        print(f"{path.name}: executed in {seconds:.1f} s")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

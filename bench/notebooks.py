"""Does every notebook fit a classroom laptop and Binder? Time and peak memory of each, in a fresh kernel.

    python -m bench notebooks            every notebook
    python -m bench.notebooks NB [...]   the named ones (names as for ``./course execute``)

Each notebook runs top to bottom in a fresh kernel of this environment, exactly as nbval runs it, and
nothing is saved. The time is the wall time of its cells (the kernel's start-up is not counted). The
memory is the kernel's own: the resident set of the kernel process plus any processes it starts,
sampled every 50 ms, and (on Linux) the kernel's high-water mark from the operating system, which
also catches peaks between samples. The benchmark process itself is never counted.
The course's limits (see the blueprint): 90 s on 2 CPU cores and 1.5 GiB, below Binder's 2 GB.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient.exceptions import CellExecutionError

from tools.notebooks import notebook_client, notebook_paths

LIMIT_SECONDS = 90
LIMIT_MIB = 1536
MIB = 2**20


@dataclass(frozen=True)
class NotebookRun:
    name: str
    seconds: float
    peak_mib: float
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        over = [f"over {LIMIT_SECONDS} s"] * (self.seconds > LIMIT_SECONDS)
        over += [f"over {LIMIT_MIB} MiB"] * (self.peak_mib > LIMIT_MIB)
        return ", ".join(over) or "OK"


class PeakMemory:
    """The peak resident memory of process ``pid`` and its children while the ``with`` block runs."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:  # a child that ended between listing and reading
                pass
        return total

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._rss())
            self._done.wait(self.interval)

    def _high_water_mark(self) -> int:
        """The kernel process's own peak resident set as the kernel recorded it (Linux), else 0."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
        return 0

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss(), self._high_water_mark())


def run_notebook(path: Path) -> NotebookRun:
    """Run the notebook at ``path`` in a fresh kernel (nothing saved) and measure it."""
    nb = nbformat.read(path, as_version=4)
    client = notebook_client(nb)
    error = None
    with client.setup_kernel():
        with PeakMemory(client.km.provisioner.pid) as memory:
            start = time.perf_counter()
            try:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except CellExecutionError as failure:
                error = f"{failure.ename} in cell {index + 1}"
            seconds = time.perf_counter() - start
    return NotebookRun(path.name, seconds, memory.peak / MIB, error)


def main(names: list[str] | None = None) -> int:
    """Print one row per notebook; return 1 when one fails or is over a limit."""
    paths = notebook_paths(names or [])
    if not paths:
        print("no notebooks to run")
        return 0
    width = max(len(p.name) for p in paths)
    print(f"{'notebook':<{width}}  {'seconds':>7}  {'peak MiB':>8}  limits: {LIMIT_SECONDS} s, {LIMIT_MIB} MiB")
    runs = []
    for path in paths:
        run = run_notebook(path)
        runs.append(run)
        print(f"{run.name:<{width}}  {run.seconds:>7.1f}  {run.peak_mib:>8.0f}  {run.verdict}", flush=True)
    return 0 if all(run.verdict == "OK" for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""How long does ``./course test`` take, part by part? ``./course bench suite``.

Runs each part of the suite as ``./course test`` runs it (2 worker processes, notebooks spread whole
over them) and prints its wall time: the unit tests, the notebooks under nbval, the two browser
tests (JupyterLab and the website), and the unit tests under Colab's versions. Environments that
are already built are reused, as on a second run; on a fresh clone ``./course`` first spends the
time of creating .venv and .venv-colab (printed by the first part, which builds them).
The target (issue 14): the whole suite under 15 minutes on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 15 * 60
BROWSER = ["tests/test_browser.py", "tests/test_site.py"]
PARTS = {
    "unit tests": ["test", "tests", *(f"--ignore={path}" for path in BROWSER)],
    "nbval (notebooks)": ["test", "notebooks"],
    "browser (JupyterLab + site)": ["test", *BROWSER],
    "Colab versions (unit tests)": ["colab"],
}


def main() -> int:
    """Print the wall time of each part and the total; 1 when a part fails or the total is over target."""
    status, total = 0, 0.0
    for part, args in PARTS.items():
        start = time.perf_counter()
        done = subprocess.run([str(ROOT / "course"), *args, "-q", "-p", "no:warnings"], cwd=ROOT,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        total += seconds
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"{part:<28} {seconds:>7.1f} s   {summary}", flush=True)
        if done.returncode != 0:
            status = 1
            print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    verdict = "OK" if total <= TARGET_SECONDS else f"over the {TARGET_SECONDS} s target"
    print(f"{'whole suite':<28} {total:>7.1f} s   {verdict}")
    return status or int(total > TARGET_SECONDS)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

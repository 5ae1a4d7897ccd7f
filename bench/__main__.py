"""``python -m bench [NAME ...]``: run the benchmarks named, each a module ``bench/<name>.py``.

With no name, list the benchmarks there are and run ``notebooks`` (time and memory per notebook).
``python -m bench notebooks 03 07``: words after a single benchmark's name are its arguments (here
the notebooks to time).
The exit status is 1 when a benchmark's ``main()`` returns a non-zero status, 2 for an unknown name.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import bench


def available() -> list[str]:
    """Names of the benchmark modules in bench/."""
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    known = available()
    if not names:
        print(f"benchmarks: {', '.join(known)} (run one with ./course bench NAME); running notebooks\n")
        names = ["notebooks"]
    if names[0] in known and len(names) > 1 and not set(names[1:]) & set(known):
        runs = [(names[0], names[1:])]  # `./course bench notebooks 03 07`: one benchmark and its arguments
    else:
        unknown = [name for name in names if name not in known]
        if unknown:
            print(f"no benchmark named {', '.join(map(repr, unknown))}; available: {', '.join(known)}",
                  file=sys.stderr)
            return 2
        runs = [(name, []) for name in names]
    status = 0
    for name, args in runs:
        benchmark = importlib.import_module(f"bench.{name}").main
        takes_arguments = bool(inspect.signature(benchmark).parameters)
        if args and not takes_arguments:
            print(f"benchmark {name!r} takes no arguments, got {' '.join(args)!r}", file=sys.stderr)
            return 2
        if len(runs) > 1:
            print(f"== {name} ==")
        result = benchmark(args) if takes_arguments else benchmark()
        if isinstance(result, int) and result != 0:  # a main() may also return nothing
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

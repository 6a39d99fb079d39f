"""``python -m bench [NAMES...] [--quick] [--json FILE] [--list] [--strict]``.

Imports every public module of the ``bench`` package (which registers its
cases), runs the selected cases in order and prints the report. A case that
raises becomes an ``error`` row and makes the exit status 1; a missed target
does so only with ``--strict`` (figures from a noisy machine are a report,
not a test).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import bench
from bench._core import Context, Row, all_cases, select
from bench._report import environment, format_markdown, to_json

RESULTS_INTRO = (
    "# Benchmark results\n\n"
    "The latest full `make bench` run, rawlive and the official SDK measured side by side. "
    "Ratios matter, absolute times depend on the machine.\n\n"
)
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _clidoc():  # type: ignore[no-untyped-def]
    """The README section writer of ``.ci/clidoc.py``, a maintainer's script."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / ".ci" / "clidoc.py"
    spec = importlib.util.spec_from_file_location("clidoc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover() -> None:
    """Import ``bench.<module>`` for every module not starting with ``_``."""
    for info in pkgutil.iter_modules(bench.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"bench.{info.name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="rawlive benchmarks: rawlive vs a baseline, side by side, as ratios.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="case names or groups to run (e.g. codec, codec.decode-sdk); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, for a smoke test")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--results",
        type=Path,
        metavar="FILE",
        help="also write the report to FILE (bench/RESULTS.md) under its own title",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        metavar="FILE",
        help="also put the report in FILE between <!-- bench:start --> and <!-- bench:end -->",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    discover()
    if args.list:
        for case in all_cases():
            print(f"{case.name:28} {case.description}")
        return 0
    try:
        cases = select(args.names)
    except KeyError as exc:
        known = ", ".join(sorted({c.group for c in all_cases()} | {c.name for c in all_cases()}))
        print(
            f"python -m bench: no benchmark matches {exc.args[0]!r} (known: {known})",
            file=sys.stderr,
        )
        return 2

    ctx = Context.make(quick=args.quick)
    rows: list[Row] = []
    for case in cases:
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(case.func(ctx))
        except Exception as exc:
            traceback.print_exc()
            rows.append(
                Row(case.name, case.description, "—", "—", error=f"{type(exc).__name__}: {exc}")
            )

    env = environment(ctx)
    report = format_markdown(env, rows)
    print(report)
    body = report.split("\n", 1)[1].strip("\n") + "\n"  # without the "# ..." title
    if args.results is not None:
        args.results.write_text(RESULTS_INTRO + body)
    if args.readme is not None:
        replace_section = _clidoc().replace_section

        readme = args.readme.read_text()
        args.readme.write_text(replace_section(readme, body, README_START, README_END))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(env, rows), indent=2, ensure_ascii=False) + "\n")
    if any(row.error for row in rows):
        return 1
    if args.strict and any(row.verdict == "misses target" for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

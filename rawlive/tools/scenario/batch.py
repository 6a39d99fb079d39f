"""Several scenarios, each run N times, K at a time: what ``rawlive scenario run`` does.

:func:`scenario_files` lists a folder's scenarios (its ``*.toml`` and
``*.json`` files, not those of its subfolders, where emulator scripts
go); :func:`run_many` runs them and returns one
:class:`~rawlive.tools.scenario.ScenarioResult` per run, in the order the
runs were listed (scenario by scenario, run by run). The rules:

1. Each run is recorded: into ``record_dir`` as ``<scenario>-<run>.jsonl``
   when given, else into a temporary folder that is removed when the run
   passes and kept when it fails.
2. A failed run's report page is written next to its cassette (the
   cassette's name with ``.html``, :func:`rawlive.tools.report.write_report`)
   and named in its result.
3. ``replay`` runs each scenario from the cassette beside its file (the
   file's name with ``.jsonl``) instead of a live server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rawlive.errors import ConfigError, RawliveError
from rawlive.tools.scenario.expect import ScenarioResult
from rawlive.tools.scenario.model import Scenario, load_scenario
from rawlive.tools.scenario.run import run_scenario

__all__ = ["cassette_beside", "run_many", "scenario_files"]


def scenario_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The scenario files named, a folder standing for its ``*.toml`` and ``*.json`` files."""
    out: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".toml", ".json"))
            if not found:
                raise ConfigError(f"{path}: no scenario (*.toml, *.json) in this folder")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(f"{path}: no such scenario file or folder")
    return out


def cassette_beside(scenario: Scenario) -> Path:
    """The cassette kept beside a scenario's file (its name with ``.jsonl``)."""
    if scenario.source is None:
        raise ConfigError(
            f"scenario {scenario.name!r} was not read from a file: no cassette beside it"
        )
    return Path(scenario.source).with_suffix(".jsonl")


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name) or "scenario"


async def run_many(
    paths: Sequence[str | os.PathLike[str]],
    *,
    repeat: int = 1,
    concurrency: int = 1,
    record_dir: str | os.PathLike[str] | None = None,
    replay: bool = False,
    on_result: Callable[[ScenarioResult], None] | None = None,
    **options: Any,
) -> list[ScenarioResult]:
    """Run every scenario of ``paths`` ``repeat`` times, ``concurrency`` at once.

    ``options`` go to :func:`~rawlive.tools.scenario.run_scenario`
    (``endpoint``, ``emulator``, ``api_key``, ``speed``...). Every file is
    read first: a bad one raises :class:`ConfigError` before anything runs.
    """
    if repeat < 1 or concurrency < 1:
        raise ConfigError("repeat and concurrency must be 1 or more")
    scenarios = [load_scenario(p) for p in scenario_files(paths)]
    if replay:
        for scenario in scenarios:
            if not cassette_beside(scenario).is_file():
                raise ConfigError(
                    f"{scenario.source}: no cassette {cassette_beside(scenario)} to replay; "
                    "record one with --record-dir and put it there"
                )
    jobs = [(s, n) for s in scenarios for n in range(1, repeat + 1)]
    gate = asyncio.Semaphore(concurrency)
    folder = Path(record_dir) if record_dir is not None else None

    async def one(scenario: Scenario, number: int) -> ScenarioResult:
        async with gate:
            scratch = None
            if folder is not None:
                path = folder / f"{_slug(scenario.name)}-{number}.jsonl"
            else:
                scratch = Path(tempfile.mkdtemp(prefix="rawlive-scenario-"))
                path = scratch / f"{_slug(scenario.name)}-{number}.jsonl"
            cassette = cassette_beside(scenario) if replay else None
            run = await run_scenario(scenario, record=path, cassette=cassette, **options)
            result = run.result(number)
            if result.passed:
                if scratch is not None:
                    shutil.rmtree(scratch, ignore_errors=True)
                    result.cassette = None
            elif path.is_file():
                result.report = _write_page(path)
            if on_result is not None:
                on_result(result)
            return result

    return list(await asyncio.gather(*(one(s, n) for s, n in jobs)))


def _write_page(cassette: Path) -> str | None:
    """The report page beside a failed run's cassette (rule 2); ``None`` if it cannot be."""
    from rawlive.tools.report import write_report

    page = cassette.with_suffix(".html")
    with contextlib.suppress(RawliveError, OSError):
        write_report(cassette, page)
        return str(page)
    return None

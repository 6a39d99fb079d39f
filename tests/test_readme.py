"""The README works as written: its marked examples run, its CLI reference and
its benchmark table are the current ones.

A code block preceded by ``<!-- readme-test -->`` runs: ``sh`` blocks as one
bash script, ``python`` blocks as a program. ``<!-- readme-test: NAME -->``
writes the block to the file NAME instead, for a later block to use. All run
in order in one scratch folder holding a link to ``fixtures/``, with the
venv's ``rawlive`` and ``pytest`` first on the PATH, as after
``source .venv/bin/activate``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _load_clidoc():  # type: ignore[no-untyped-def]
    """The README's CLI reference generator: a maintainer's script, outside the package."""
    spec = importlib.util.spec_from_file_location("clidoc", ROOT / ".ci" / "clidoc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


clidoc = _load_clidoc()
BLOCK = re.compile(
    r"<!-- readme-test(?::\s*(?P<name>[^ >]+))? -->\n```(?P<lang>\w+)\n(?P<body>.*?)```", re.S
)


def _blocks() -> list[tuple[str | None, str, str]]:
    return [(m["name"], m["lang"], m["body"]) for m in BLOCK.finditer(README.read_text())]


def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    blocks = _blocks()
    assert [lang for name, lang, _ in blocks if name is None].count("sh") >= 4
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "PYTEST_ADDOPTS"):
        env.pop(key, None)  # as written: offline, with no key
    for number, (name, lang, body) in enumerate(blocks, 1):
        if name is not None:
            (tmp_path / name).write_text(body)
            continue
        if lang == "sh":
            argv = ["bash", "-e", "-o", "pipefail", "-c", body]
        elif lang == "python":
            argv = [sys.executable, "-c", body]
        else:
            raise AssertionError(f"block {number}: cannot run a {lang!r} block")
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (
            f"block {number} ({lang}):\n{body}\n{done.stdout}\n{done.stderr}"
        )
    # What the examples say they leave behind.
    assert (tmp_path / "reply.wav").stat().st_size > 44
    assert (tmp_path / "beep.wav").stat().st_size > 44
    assert (tmp_path / "tests" / "cassettes" / "greeting.jsonl").exists()
    assert '"findings"' in (tmp_path / "audit.json").read_text()
    assert "<svg" in (tmp_path / "report.html").read_text()
    probed = json.loads((tmp_path / "probe-bundle" / "summary.json").read_text())
    assert probed["trials"] == 20 and probed["failures"] > 0  # stall-30.toml stalls some


def test_the_cli_reference_is_the_commands_help() -> None:
    assert clidoc.main(["--check", str(README)]) == 0, "run `make readme`"
    reference = clidoc.section(README.read_text())
    for command in ("audit", "proxy", "replay", "report", "send", "serve"):
        assert f"### `rawlive {command}`" in reference


def test_a_stale_cli_reference_is_caught(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("| `--json` |", "| `--jsn` |", 1))
    assert clidoc.main(["--check", str(stale)]) == 1
    assert clidoc.main([str(stale)]) == 0
    assert stale.read_text() == README.read_text()


def test_the_benchmark_table_is_the_latest_results() -> None:
    text = README.read_text()
    table = text[text.index("<!-- bench:start -->") : text.index("<!-- bench:end -->")]
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    body = results[results.index("- date:") :]
    assert table.strip().removeprefix("<!-- bench:start -->").strip() == body.strip()
    assert re.search(r"- date: \d{4}-\d\d-\d\d", table) and "- machine:" in table


@pytest.mark.parametrize(
    "section",
    [
        "## Stream a file",
        "## The models",
        "## Use the library",
        "## Record and replay",
        "## Audit the wire",
        "## See a session",
        "## Catch a flaky server",
        "## The emulator",
        "## How rawlive differs from the SDK",
        "## CLI reference",
        "## Benchmarks",
    ],
)
def test_the_readme_has_a_section_per_use(section: str) -> None:
    text = README.read_text()
    assert section in text
    # the two commands come first
    assert text.index("make demo") < text.index(section)

""".ci/lowest_constraints.py: ``make test-lowest`` pins every declared floor of pyproject.toml."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "lowest_constraints.py"
PYPROJECT = ROOT / "pyproject.toml"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowest_constraints", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lc = _module()


def _declared_floors() -> set[tuple[str, str]]:
    """(name, version) of every ``>=`` and ``==`` in the project's requirements, read plainly."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    found = set()
    for req in reqs:
        name = re.match(r"[A-Za-z0-9._-]+", req)
        assert name is not None, req
        found |= {(name.group(), v) for v in re.findall(r"(?:>=|==)\s*([^\s,;]+)", req)}
    return found


def test_every_floor_in_pyproject_is_pinned() -> None:
    floors = _declared_floors()
    assert ("msgspec", "0.19") in floors and len(floors) >= 10  # runtime and dev both read
    lines = lc.constraints(lc.requirements(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))))
    assert {tuple(line.split("==")) for line in lines} == floors


def test_the_script_prints_a_constraints_file_for_the_project() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True
    )
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert {tuple(line.split("==")) for line in lines} == _declared_floors()


@pytest.mark.parametrize(
    ("requirement", "pin"),
    [
        ("numpy>=1.26", ("numpy", "1.26")),
        ("google-genai==3.3.0", ("google-genai", "3.3.0")),
        ("a.b_c[extra1,extra2] >= 2.0, <3 ; python_version < '3.13'", ("a.b_c", "2.0")),
        ("x<3,>=1.2.post1", ("x", "1.2.post1")),
    ],
)
def test_floor_of_a_requirement(requirement: str, pin: tuple[str, str]) -> None:
    assert lc.floor(requirement) == pin


@pytest.mark.parametrize(
    ("requirement", "says"),
    [
        ("numpy", "declares no lowest version"),
        ("numpy<3", "declares no lowest version"),
        ("numpy>1.26", "declares no lowest version"),
        ("numpy~=1.26", "declares no lowest version"),
        ("numpy==1.*", "declares no lowest version"),
        ("numpy>=1.26,>=1.27", "two lower bounds"),
        ("numpy>=1.26,!!2", "cannot read the version specifier"),
    ],
)
def test_a_requirement_without_a_testable_floor_is_refused(requirement: str, says: str) -> None:
    with pytest.raises(lc.ConstraintError, match=says):
        lc.floor(requirement)


def test_a_bad_pyproject_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\ndependencies = ["numpy"]\n')
    result = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "'numpy' declares no lowest version" in result.stderr

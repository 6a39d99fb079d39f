"""Pip constraints pinning every declared dependency to the lowest version it allows.

``make test-lowest`` installs ``-e .[dev]`` under these constraints, so CI tests
the floor of every range in pyproject.toml as well as the newest versions
``make test`` gets. The file is derived at run time from pyproject.toml (runtime
dependencies and every extra), so it never drifts from what is declared::

    python .ci/lowest_constraints.py [pyproject.toml] > constraints.txt

A requirement's floor is its ``>=`` (or ``==``) version; one with neither is an
error, since its lowest version could not be tested. The build backend
(``[build-system] requires``) is left out: it builds in isolation.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

REQUIREMENT = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
    (?:\[[^\]]*\])?\s*          # extras
    (?P<specs>[^;]*?)\s*        # version specifiers
    (?:;.*)?$                   # environment marker
    """,
    re.VERBOSE,
)
SPECIFIER = re.compile(r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>\S+)\s*$")


class ConstraintError(ValueError):
    """A requirement whose floor cannot be derived: the message says which and why."""


def requirements(pyproject: dict[str, object]) -> list[str]:
    """Every requirement string of the project: its dependencies, then each extra's."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise ConstraintError("pyproject.toml has no [project] table")
    found = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        found.extend(extra)
    return found


def floor(requirement: str) -> tuple[str, str]:
    """``(name, lowest version)`` of one requirement string, from its ``>=`` or ``==``."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise ConstraintError(f"cannot read the requirement {requirement!r}")
    name, specs = match["name"], match["specs"]
    lowest = None
    for spec in filter(None, (s.strip() for s in specs.split(","))):
        parsed = SPECIFIER.match(spec)
        if parsed is None:
            raise ConstraintError(f"cannot read the version specifier {spec!r} of {requirement!r}")
        if parsed["op"] in (">=", "==", "==="):
            if lowest is not None:
                raise ConstraintError(f"{requirement!r} has two lower bounds")
            lowest = parsed["version"]
    if lowest is None or "*" in lowest:
        raise ConstraintError(
            f"{requirement!r} declares no lowest version: give it a '>=' floor that works"
        )
    return name, lowest


def constraints(reqs: Iterable[str]) -> list[str]:
    """``name==floor`` lines, one per requirement, in declaration order."""
    return [f"{name}=={version}" for name, version in map(floor, reqs)]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the constraints for the pyproject.toml given (default: the project's)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: python .ci/lowest_constraints.py [pyproject.toml]", file=sys.stderr)
        return 2
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        lines = constraints(requirements(tomllib.loads(path.read_text(encoding="utf-8"))))
    except (OSError, tomllib.TOMLDecodeError, ConstraintError) as exc:
        print(f"lowest_constraints: {path}: {exc}", file=sys.stderr)
        return 2
    print(f"# The lowest version of every requirement in {path.name}; generated, do not edit.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

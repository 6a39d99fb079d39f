"""The CLI reference in the README, generated from the click commands.

``python .ci/clidoc.py README.md`` rewrites the part of the README between
``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->`` from the
commands' own help (``make readme``); ``--check`` only says whether it is up
to date (a test runs that, so the README never drifts from the CLI).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from rawlive.cli import main as cli

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"


def _command(name: str, command: click.Command, parent: click.Context) -> list[str]:
    ctx = click.Context(command, info_name=f"rawlive {name}", parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [f"### `rawlive {name}`", "", "```", f"rawlive {name} {usage}".rstrip(), "```", ""]
    help_text = inspect.cleandoc(command.help or "")
    if help_text:
        out += [click.unstyle(help_text).replace("\b\n", ""), ""]
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or not isinstance(param, click.Option):
            continue  # arguments are in the usage line
        flags, text = (cell.replace("|", "\\|") for cell in record)
        rows.append(f"| `{flags}` | {text} |")
    if rows:
        out += ["| option | what it does |", "|---|---|", *rows, ""]
    return out


def reference() -> str:
    """The Markdown reference of every ``rawlive`` command (and a group's subcommands
    after it), in the CLI's order."""
    assert isinstance(cli, click.Group)
    # The group's context settings (``-h`` for help) reach the commands, as when run.
    ctx = click.Context(cli, info_name="rawlive", **cli.context_settings)
    out: list[str] = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if command is not None and not command.hidden:
            out += _command(name, command, ctx)
            if isinstance(command, click.Group):  # its subcommands, each a section of its own
                group = click.Context(command, info_name=f"rawlive {name}", parent=ctx)
                for sub in command.list_commands(group):
                    subcommand = command.get_command(group, sub)
                    if subcommand is not None and not subcommand.hidden:
                        out += _command(f"{name} {sub}", subcommand, group)
    return "\n".join(out).rstrip() + "\n"


def section(readme: str, start: str = START, end: str = END) -> str:
    """The generated part of a README (between the markers)."""
    first, last = readme.index(start) + len(start), readme.index(end)
    return readme[first:last].strip("\n") + "\n"


def replace_section(readme: str, body: str, start: str = START, end: str = END) -> str:
    """``readme`` with ``body`` between the markers (``make bench`` fills its table so too)."""
    first, last = readme.index(start) + len(start), readme.index(end)
    return readme[:first] + "\n" + body + readme[last:]


def updated(readme: str) -> str:
    """``readme`` with its CLI reference rewritten."""
    return replace_section(readme, reference())


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"] or ["README.md"]
    path = Path(paths[0])
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{path}: no {START} ... {END} section to fill", file=sys.stderr)
        return 2
    new = updated(text)
    if check:
        if new != text:
            print(f"{path}: the CLI reference is out of date: run `make readme`", file=sys.stderr)
            return 1
        return 0
    path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

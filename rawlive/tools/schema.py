"""JSON Schemas of the Live API messages, generated from :mod:`rawlive.wire.types`.

The types are the schema: this module only renders them, so the files never
drift from what the codec encodes and decodes. Five files come out, each a
JSON Schema (draft 2020-12) whose root refers to its message in ``$defs``:
``client-messages.schema.json``, ``server-messages.schema.json``,
``emulator-script.schema.json`` (:class:`~rawlive.servers.emulator.script.Script`),
``cassette.schema.json`` (:data:`~rawlive.cassette.CassetteLine`) and
``scenario.schema.json`` (:class:`~rawlive.tools.scenario.Scenario`). The
README's "The wire protocol as types" says how values are written; ``make
schemas`` (``python -m rawlive.tools.schema schemas``) regenerates them. The
rules:

1. The output is pretty-printed with sorted keys and a trailing newline, so a
   change to the types shows as a small, stable diff.
2. It does not depend on the msgspec or Python that made it: every title and
   description is cleaned as :func:`inspect.cleandoc` does (msgspec copies
   docstrings indented or not depending on its version, and Python 3.13
   dedents them itself), and ``null`` comes last in an optional's ``anyOf``.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from rawlive import cassette
from rawlive.servers.emulator import script
from rawlive.tools.scenario import model as scenario_model
from rawlive.wire import types as t

__all__ = [
    "DURATION_PATTERN",
    "SCHEMA_FILES",
    "main",
    "message_schema",
    "render",
    "schemas",
    "write_schemas",
]

DURATION_PATTERN = r"^-?\d+(\.\d{1,9})?s$"
"""A protobuf Duration in proto3 JSON: seconds, up to nine fractional digits, ``s``."""

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_FILES: dict[str, Any] = {
    "client-messages.schema.json": t.LiveClientMessage,
    "server-messages.schema.json": t.LiveServerMessage,
    "emulator-script.schema.json": script.Script,
    "cassette.schema.json": cassette.CassetteLine,
    "scenario.schema.json": scenario_model.Scenario,
}
"""Output file name -> the type it describes: a Struct, or an annotated union
that carries its own title and description."""


def _schema_hook(tp: type) -> dict[str, Any]:
    """The schema of types msgspec does not know natively."""
    if tp is t.Duration:
        return {"type": "string", "pattern": DURATION_PATTERN}
    if tp is t.Base64Bytes:
        return {"type": "string", "contentEncoding": "base64"}
    raise NotImplementedError(f"no JSON Schema for {tp!r}")


_TEXT_KEYS = frozenset({"title", "description"})
"""Schema keywords whose value is prose (a docstring or a ``Meta`` text)."""

_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
"""Schema keywords whose value maps names (any, "title" too) to schemas."""

_VALUE_KEYS = frozenset({"examples", "default", "const", "enum"})
"""Schema keywords whose value is data, never a schema: left as it is."""


_NULL = {"type": "null"}


def _clean_text(text: str) -> str:
    """A docstring's text however it was indented: :func:`inspect.cleandoc`, and no
    line ending in spaces (cleandoc keeps a last line of only the indentation)."""
    lines = [line.rstrip() for line in inspect.cleandoc(text).splitlines()]
    return "\n".join(lines).strip("\n")


def _normalise(schema: Any) -> Any:
    """``schema`` in the same form whichever msgspec and Python rendered it.

    Every title and description is cleaned as :func:`inspect.cleandoc` does:
    msgspec 0.19 copies a Struct's docstring as written (indented), newer ones
    dedent it, and Python 3.13 dedents docstrings itself. The ``null`` of an
    optional field's ``anyOf`` goes last: msgspec 0.19 puts it first, newer
    ones last (the order means nothing to a validator).
    """
    if isinstance(schema, list):
        return [_normalise(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _TEXT_KEYS and isinstance(value, str):
            cleaned[key] = _clean_text(value)
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            cleaned[key] = {name: _normalise(sub) for name, sub in value.items()}
        elif key in _VALUE_KEYS:
            cleaned[key] = value
        elif key == "anyOf" and isinstance(value, list):
            members = _normalise(value)
            cleaned[key] = [m for m in members if m != _NULL] + [m for m in members if m == _NULL]
        else:
            cleaned[key] = _normalise(value)
    return cleaned


def message_schema(cls: Any) -> dict[str, Any]:
    """The JSON Schema document of one message type, every Struct under ``$defs``."""
    (raw_root,), raw_components = msgspec.json.schema_components(
        [cls], schema_hook=_schema_hook, ref_template="#/$defs/{name}"
    )
    root: dict[str, Any] = _normalise(raw_root)
    components: dict[str, Any] = _normalise(raw_components)
    generated = "Generated by `python -m rawlive.tools.schema`; do not edit."
    if not isinstance(cls, type):  # an Annotated union with its own title and description
        root["description"] = f"{root['description']} {generated}"
        return {"$schema": JSON_SCHEMA_DIALECT, **root, "$defs": components}
    if cls.__module__ == t.__name__:
        what = (
            f"rawlive.wire.types.{cls.__name__} on the wire (Gemini Live API, BidiGenerateContent)."
        )
    else:
        what = f"{cls.__module__}.{cls.__name__}: {(cls.__doc__ or '').strip().splitlines()[0]}"
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": cls.__name__,
        "description": f"{what} {generated}",
        **root,
        "$defs": components,
    }


def render(schema: dict[str, Any]) -> str:
    """Stable text of a schema: 2-space indent, sorted keys, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schemas() -> dict[str, str]:
    """File name -> rendered schema, for every file in :data:`SCHEMA_FILES`."""
    return {name: render(message_schema(cls)) for name, cls in SCHEMA_FILES.items()}


def write_schemas(outdir: Path) -> list[Path]:
    """Write every schema file into ``outdir`` (created if missing); return the paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schemas().items():
        path = outdir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rawlive.tools.schema OUTDIR``: write the schema files into OUTDIR."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m rawlive.tools.schema OUTDIR", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    for path in write_schemas(Path(args[0])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

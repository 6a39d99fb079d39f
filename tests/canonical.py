"""Canonical comparison of client frames (tests/data/conformance/README rules).

The SDK sends mixed casing and URL-safe base64; rawlive sends camelCase and
standard base64. Both mean the same to the server's proto3 JSON parser, so
frames are compared after :func:`canonical`:

1. object keys become lowerCamelCase, except inside user-data maps
   (a function response's ``response``, ``args``, ``labels``, any
   ``*JsonSchema``, ``partMetadata``) and the keys of a schema's
   ``properties`` map, which stay as written;
2. base64 at bytes fields is decoded (either alphabet, padding optional);
3. numbers compare by value (``40 == 40.0``) and a bool is never a number;
4. key order and whitespace do not matter (frames are parsed JSON).

:func:`assert_canonically_equal` fails with one line per difference, each
with its path.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

_BLOB_PARENTS = frozenset({"inlineData", "audio", "video", "mediaChunks"})
_BYTES_KEYS = frozenset({"thoughtSignature", "imageData", "voiceSampleAudio", "consentAudio"})
_USER_DATA_KEYS = frozenset({"args", "labels", "partMetadata"})


@dataclasses.dataclass(frozen=True)
class Bytes:
    """Decoded bytes (shown as hex in diffs)."""

    value: bytes

    def __repr__(self) -> str:
        return f"bytes.fromhex({self.value.hex()!r})"


@dataclasses.dataclass(frozen=True)
class Number:
    """A JSON number compared by value."""

    value: int | float

    def __repr__(self) -> str:
        return repr(self.value)


def to_camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def decode_b64(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    text = text.translate(str.maketrans("-_", "+/"))
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _number(value: int | float) -> Number:
    if isinstance(value, float) and value.is_integer():
        return Number(int(value))
    return Number(value)


def _user_data(value: Any) -> Any:
    """Inside caller data: keys kept, numbers by value, nothing decoded."""
    if isinstance(value, dict):
        return {k: _user_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_user_data(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _number(value)
    return value


def _is_user_data(key: str, parent: str | None) -> bool:
    if key in _USER_DATA_KEYS or key.endswith("JsonSchema"):
        return True
    # ``response`` is caller data in a FunctionResponse; in a
    # FunctionDeclaration it is a Schema.
    return key == "response" and parent in ("functionResponses", "functionResponse")


def canonical(value: Any, key: str | None = None, parent: str | None = None) -> Any:
    """``value`` (a parsed frame or part of one) in canonical form.

    ``key`` is the (camelCase) key ``value`` sits under, ``parent`` the key
    of the object holding it; list items keep their list's key.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            sub = to_camel(raw_key)
            if _is_user_data(sub, key):
                out[sub] = _user_data(item)
            elif sub == "properties" and isinstance(item, dict):
                # A schema's properties: names are the caller's, values schemas.
                out[sub] = {name: canonical(s, "properties", sub) for name, s in item.items()}
            elif isinstance(item, str) and (
                sub in _BYTES_KEYS or (sub == "data" and key in _BLOB_PARENTS)
            ):
                out[sub] = Bytes(decode_b64(item))
            else:
                out[sub] = canonical(item, sub, key)
        return out
    if isinstance(value, list):
        return [canonical(item, key, parent) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _number(value)
    return value


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """One line per difference between two canonical values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines: list[str] = []
        for k in sorted(expected.keys() | actual.keys()):
            if k not in actual:
                lines.append(f"{path}.{k}: missing (expected {expected[k]!r})")
            elif k not in expected:
                lines.append(f"{path}.{k}: unexpected {actual[k]!r}")
            else:
                lines.extend(differences(expected[k], actual[k], f"{path}.{k}"))
        return lines
    if isinstance(expected, list) and isinstance(actual, list):
        lines = []
        if len(expected) != len(actual):
            lines.append(f"{path}: {len(actual)} items, expected {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            lines.extend(differences(e, a, f"{path}[{i}]"))
        return lines
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: got {actual!r}, expected {expected!r}"]
    return []


def assert_canonically_equal(expected: Any, actual: Any, what: str = "frame") -> None:
    """Fail with a readable diff unless the two (raw, parsed) frames mean the same."""
    lines = differences(canonical(expected), canonical(actual))
    if lines:
        raise AssertionError(f"{what} differs canonically:\n  " + "\n  ".join(lines))

"""Bytes and text frames to and from the wire types, exactly and fast.

The codec keeps no state. What it accepts is the README's "The wire protocol
as types". The rules:

1. A frame goes to a compiled msgspec decoder for its Struct (the fast path:
   camelCase keys and standard padded base64, what the real server sends
   almost always), unless it contains ``_`` (a snake_case key or URL-safe
   base64 may hide there; camelCase and standard base64 never hold one) or
   the fast decoder refused it.
2. Those take the lenient path: parsed to plain Python, walked along the type
   tree (keys renamed, base64 normalised, what the types do not know noted)
   and converted.
3. The same walk is the auditor's strict mode: :func:`unknown_paths` and
   :func:`inspect_frame` report every key and enum value the types do not
   know, which decoding keeps out of the way instead of failing on them.
4. The spellings proto3 JSON allows are normalised here and nowhere else:
   :func:`camel_case` for keys, :func:`standard_base64` and
   :func:`decode_base64` for bytes, :func:`canonical` to compare two frames
   that mean the same to the server.
5. Invalid input never escapes as anything but :class:`rawlive.DecodeError`.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import pybase64

from rawlive.errors import (
    ConfigError,
    ConfigTypeError,
    DecodeError,
    ServerErrorPayload,
    UnknownMessageError,
)
from rawlive.wire import types as t

__all__ = [
    "ClientMessageLike",
    "JsonNumber",
    "WireReport",
    "camel_case",
    "canonical",
    "convert",
    "decode_base64",
    "decode_client_message",
    "decode_server_message",
    "encode",
    "encode_client_message",
    "encode_server_message",
    "inspect_frame",
    "mime_rate",
    "standard_base64",
    "to_builtins",
    "unknown_paths",
]

S = TypeVar("S")

_BOM = b"\xef\xbb\xbf"


_MIME_RATE = re.compile(r"rate=([0-9]{1,9})(?![0-9])")


def mime_rate(mime: str | None) -> int | None:
    """The sample rate a MIME type declares (``audio/pcm;rate=16000``: 16000).

    ``None`` when it declares none, or none a number of up to 9 digits can say.
    """
    match = _MIME_RATE.search(mime or "")
    return int(match.group(1)) if match else None


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, t.Base64Bytes):
        # Standard padded base64, by SIMD; the alphabet needs no JSON escaping.
        return msgspec.Raw(b'"' + pybase64.b64encode(obj) + b'"')
    if isinstance(obj, t.Duration):
        return obj.to_wire()
    raise NotImplementedError(f"rawlive cannot encode objects of type {type(obj).__name__}")


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is t.Base64Bytes:
        if not isinstance(obj, str):
            raise TypeError(f"Expected base64 `str`, got `{_json_kind(obj)}`")
        try:
            # validate=True: standard alphabet with padding only. Anything
            # else fails here and the lenient path normalises it first.
            return pybase64.b64decode(obj, validate=True)  # plain bytes: see Base64Bytes
        except ValueError:
            raise ValueError("Invalid base64 encoded string") from None
    if tp is t.Duration:
        try:
            if isinstance(obj, str):
                return t.Duration.parse(obj)
            if isinstance(obj, int | float) and not isinstance(obj, bool):
                return t.Duration(seconds=obj)
            if isinstance(obj, dict):  # {"seconds": "10", "nanos": 5} (proto binary-ish form)
                return t.Duration(
                    seconds=int(obj.get("seconds", 0)),
                    microseconds=int(obj.get("nanos", 0)) // 1000,
                )
        except OverflowError:
            # timedelta stops at 999999999 days; msgspec only turns ValueError
            # and TypeError into a ValidationError, so say it as a ValueError.
            raise ValueError("Duration out of range") from None
        raise ValueError(f"expected a Duration string like '10s', got {type(obj).__name__}")
    raise NotImplementedError(f"no decoder for {tp!r}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_server_decoder = msgspec.json.Decoder(t.LiveServerMessage, strict=False, dec_hook=_dec_hook)
_client_decoder = msgspec.json.Decoder(t.LiveClientMessage, strict=False, dec_hook=_dec_hook)


def encode(obj: Any) -> bytes:
    """Compact UTF-8 JSON of any wire object (or plain data holding some)."""
    return _encoder.encode(obj)


def to_builtins(obj: Any) -> Any:
    """A wire object as plain JSON-ready Python data with wire (camelCase) keys."""
    return msgspec.to_builtins(obj, enc_hook=_enc_hook)


# ---------------------------------------------------------------------------
# Encoding client and server messages
# ---------------------------------------------------------------------------

ClientMessageLike = (
    t.LiveClientMessage
    | t.LiveClientSetup
    | t.LiveClientContent
    | t.LiveClientRealtimeInput
    | t.LiveClientToolResponse
    | t.LiveClientContextUpdate
)

# Inner message type -> how to wrap it in the envelope. A table, not an
# isinstance chain: encoding a 20 ms audio chunk must cost little more than
# base64 itself.
# Below this size msgspec's own base64 is as fast as handing the chunk to
# pybase64 (which costs a copy and a hook call); above it pybase64 wins by far.
_SIMD_MIN_BYTES = 1024


def _wrap_realtime(message: t.LiveClientRealtimeInput) -> t.LiveClientMessage:
    # Written for the 20 ms audio chunk: two attribute reads and a compare.
    audio = message.audio
    if audio is not None:
        data = audio.data
        if data is not None and len(data) >= _SIMD_MIN_BYTES and type(data) is bytes:
            audio = msgspec.structs.replace(audio, data=t.Base64Bytes(data))
            message = msgspec.structs.replace(message, audio=audio)
    elif message.video is not None:
        video = message.video
        data = video.data
        if data is not None and len(data) >= _SIMD_MIN_BYTES and type(data) is bytes:
            video = msgspec.structs.replace(video, data=t.Base64Bytes(data))
            message = msgspec.structs.replace(message, video=video)
    return t.LiveClientMessage(realtime_input=message)


_WRAP: dict[type, Callable[[Any], t.LiveClientMessage]] = {
    t.LiveClientRealtimeInput: _wrap_realtime,
    t.LiveClientContent: lambda m: t.LiveClientMessage(client_content=m),
    t.LiveClientToolResponse: lambda m: t.LiveClientMessage(tool_response=m),
    t.LiveClientSetup: lambda m: t.LiveClientMessage(setup=m),
    t.LiveClientContextUpdate: lambda m: t.LiveClientMessage(context_update=m),
}

_CLIENT_KINDS = ("setup", "client_content", "realtime_input", "tool_response", "context_update")


def encode_client_message(message: ClientMessageLike | dict[str, Any]) -> bytes:
    """Encode a client message to compact UTF-8 JSON bytes (camelCase, standard base64).

    ``message`` is a :class:`~rawlive.wire.types.LiveClientMessage` envelope, one of
    the inner messages (``LiveClientRealtimeInput``, ``LiveClientContent``,
    ``LiveClientToolResponse``, ``LiveClientSetup``,
    ``LiveClientContextUpdate``), which is wrapped, or a plain dict in the
    envelope's shape (snake_case or camelCase keys). An envelope must carry
    exactly one kind.
    """
    if type(message) is t.LiveClientRealtimeInput:  # the hot path: streamed audio
        return _encoder.encode(_wrap_realtime(message))
    wrap = _WRAP.get(type(message))
    if wrap is not None:
        return _encoder.encode(wrap(message))
    if isinstance(message, dict):
        message = convert(message, t.LiveClientMessage)
    if not isinstance(message, t.LiveClientMessage):
        raise ConfigTypeError(
            f"cannot encode {type(message).__name__} as a client message; pass a "
            "LiveClientMessage or one of LiveClientSetup, LiveClientContent, "
            "LiveClientRealtimeInput, LiveClientToolResponse, LiveClientContextUpdate"
        )
    kinds = [k for k in _CLIENT_KINDS if getattr(message, k) is not None]
    if len(kinds) != 1:
        raise ConfigError(
            "a client message carries exactly one of setup, clientContent, realtimeInput, "
            f"toolResponse, contextUpdate; this one has {len(kinds)}"
            + (f" ({', '.join(kinds)})" if kinds else "")
        )
    return _encoder.encode(message)


def encode_server_message(message: t.LiveServerMessage) -> bytes:
    """Encode a server message (used by rawlive's servers) to compact UTF-8 JSON."""
    return _encoder.encode(message)


# ---------------------------------------------------------------------------
# The type walk behind the lenient path and the strict report
# ---------------------------------------------------------------------------


def camel_case(name: str) -> str:
    """A key in lowerCamelCase (``mime_type``: ``mimeType``); camelCase keys stay as they are."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _to_snake(name: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)


@dataclasses.dataclass(frozen=True)
class _Node:
    """How to walk a value of one declared type."""

    kind: str  # struct | list | map | opaque | bytes | enum | scalar | union
    struct: type | None = None
    fields: dict[str, tuple[str, Any]] | None = None  # accepted key -> (wire key, type)
    item: Any = None
    enum: type[enum.Enum] | None = None
    members: tuple[_Node, ...] = ()


_nodes: dict[int, tuple[Any, _Node]] = {}


def _node(tp: Any) -> _Node:
    cached = _nodes.get(id(tp))
    if cached is not None and cached[0] is tp:
        return cached[1]
    node = _build_node(tp)
    _nodes[id(tp)] = (tp, node)
    return node


def _build_node(tp: Any) -> _Node:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        for m in meta:
            if isinstance(m, msgspec.Meta) and m.extra and "enum" in m.extra:
                return _Node("enum", enum=m.extra["enum"])
        return _node(base)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = tuple(_node(a) for a in typing.get_args(tp) if a is not type(None))
        return members[0] if len(members) == 1 else _Node("union", members=members)
    if origin is list:
        (item,) = typing.get_args(tp)
        return _Node("list", item=item)
    if origin is dict:
        _, value = typing.get_args(tp)
        if value is Any:
            return _Node("opaque")
        return _Node("map", item=value)
    if tp is Any or tp is dict:
        return _Node("opaque")
    if isinstance(tp, type) and issubclass(tp, bytes):
        return _Node("bytes")
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        # Filled lazily: a Struct may refer to itself (Schema.items).
        return _Node("struct", struct=tp)
    return _Node("scalar")


_struct_fields: dict[type, dict[str, tuple[str, Any]]] = {}


def _fields_of(cls: type) -> dict[str, tuple[str, Any]]:
    fields = _struct_fields.get(cls)
    if fields is None:
        fields = {}
        for f in msgspec.structs.fields(cls):
            entry = (f.encode_name, f.type)
            # Accepted spellings: the wire name, the Python name, and the wire
            # name's snake_case twin (proto3 JSON parsers accept both).
            fields[_to_snake(f.encode_name)] = entry
            fields[f.name] = entry
            fields[f.encode_name] = entry
        _struct_fields[cls] = fields
    return fields


@dataclasses.dataclass
class WireReport:
    """What the strict walk noticed in one frame, beyond what the types say.

    Paths use wire names and ``[]`` for list items
    (``serverContent.modelTurn.parts[].fooBar``).
    """

    unknown_fields: list[str] = dataclasses.field(default_factory=list)
    unknown_enum_values: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    snake_case_keys: list[str] = dataclasses.field(default_factory=list)
    urlsafe_base64: list[str] = dataclasses.field(default_factory=list)
    unpadded_base64: list[str] = dataclasses.field(default_factory=list)
    #: Every known key's path, in wire spelling (what ``audit --diff`` compares).
    key_paths: list[str] = dataclasses.field(default_factory=list)

    def unknown_paths(self) -> list[str]:
        """Unknown keys, then unknown enum values as ``path=VALUE``."""
        return self.unknown_fields + [f"{p}={v}" for p, v in self.unknown_enum_values]


_URLSAFE = str.maketrans("-_", "+/")


def standard_base64(text: str) -> str:
    """Base64 in the standard alphabet with its padding, from either alphabet, padded or not.

    proto3 JSON allows URL-safe and unpadded base64 (the SDK sends it); the
    fast decoder takes the standard padded form only. Nothing is validated.
    """
    if "-" in text or "_" in text:  # a search is cheaper than translating a long text
        text = text.translate(_URLSAFE)
    return text + "=" * (-len(text) % 4)


def decode_base64(text: str) -> bytes:
    """The bytes of base64 in either alphabet, padded or not; :class:`DecodeError` if not base64."""
    try:
        return base64.b64decode(standard_base64(text), validate=True)
    except ValueError as exc:
        raise DecodeError(f"invalid base64: {exc}") from None


def _walk(value: Any, node: _Node, path: str, report: WireReport | None) -> Any:
    kind = node.kind
    if value is None:
        return None
    if kind == "struct":
        if not isinstance(value, dict):
            return value  # a Struct instance or a wrong type: convert() judges
        assert node.struct is not None
        fields = _fields_of(node.struct)
        out: dict[str, Any] = {}
        for key, item in value.items():
            entry = fields.get(key)
            sub = f"{path}.{key}" if path else key
            if entry is None:
                if report is not None:
                    report.unknown_fields.append(sub)
                continue
            wire, tp = entry
            if key != wire and report is not None:
                report.snake_case_keys.append(sub)
            where = f"{path}.{wire}" if path else wire
            if report is not None:
                report.key_paths.append(where)
            out[wire] = _walk(item, _node(tp), where, report)
        return out
    if kind == "list":
        if not isinstance(value, list):
            return value
        item_node = _node(node.item)
        return [_walk(v, item_node, f"{path}[]", report) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        item_node = _node(node.item)
        return {k: _walk(v, item_node, f"{path}.{k}", report) for k, v in value.items()}
    if kind == "bytes":
        if not isinstance(value, str):
            return value
        if report is not None:
            if "-" in value or "_" in value:
                report.urlsafe_base64.append(path)
            if len(value) % 4:
                report.unpadded_base64.append(path)
        return standard_base64(value)
    if kind == "enum":
        if (
            report is not None
            and isinstance(value, str)
            and node.enum is not None
            and value not in node.enum._value2member_map_
        ):
            report.unknown_enum_values.append((path, value))
        return value
    if kind == "union":
        for member in node.members:
            if (
                (member.kind in ("struct", "map", "opaque") and isinstance(value, dict))
                or (member.kind == "list" and isinstance(value, list))
                or (
                    member.kind in ("scalar", "enum", "bytes")
                    and not isinstance(value, dict | list)
                )
            ):
                return _walk(value, member, path, report)
        return value
    return value  # scalar, opaque


def convert(obj: Any, cls: type[S], *, strict: bool = False) -> S:
    """Build a wire Struct from plain data with snake_case or camelCase keys.

    What proto3 JSON allows is accepted (the lenient path, rule 2); what does
    not fit raises :class:`DecodeError` naming the path. With ``strict``, a key
    the types do not know raises too (for input a caller wrote, where a typo
    must not vanish silently); unknown enum values stay allowed.
    """
    report = WireReport() if strict else None
    normalised = _walk(obj, _node(cls), "", report)
    if report is not None and report.unknown_fields:
        raise DecodeError(
            f"unknown field(s) for {cls.__name__}: {', '.join(report.unknown_fields)}",
            path=report.unknown_fields[0],
        )
    return _convert(normalised, cls)


def _convert(normalised: Any, cls: type[S]) -> S:
    try:
        return msgspec.convert(normalised, cls, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        raise DecodeError(f"invalid {cls.__name__}: {text}", path=path) from None
    except RecursionError:
        raise DecodeError(f"invalid {cls.__name__}: nested too deeply") from None


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------

_SERVER_KINDS = tuple(f.encode_name for f in msgspec.structs.fields(t.LiveServerMessage))
_CLIENT_WIRE_KINDS = tuple(f.encode_name for f in msgspec.structs.fields(t.LiveClientMessage))


# What msgspec raises on hostile bytes: its own errors (a ValidationError is a
# DecodeError), invalid UTF-8 in a string it keeps, nesting beyond the stack.
_FAST_PATH_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _parse_json(data: bytes | str | bytearray | memoryview) -> Any:
    data = data.removeprefix("\ufeff") if isinstance(data, str) else bytes(data).removeprefix(_BOM)
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise DecodeError("malformed JSON: nested too deeply") from None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _decode_lenient(
    data: bytes | str | bytearray | memoryview,
    cls: type[S],
    kinds: tuple[str, ...],
    what: str,
    report: WireReport | None,
) -> S:
    obj = _parse_json(data)
    if not isinstance(obj, dict):
        raise DecodeError(f"a {what} must be a JSON object, got {_json_kind(obj)}")
    try:
        normalised = _walk(obj, _node(cls), "", report)
    except RecursionError:
        raise DecodeError(f"a {what} nested too deeply") from None
    if not any(normalised.get(k) is not None for k in kinds):
        if cls is t.LiveServerMessage:
            _raise_if_error_payload(obj)
        keys = sorted(obj)
        raise UnknownMessageError(
            f"a {what} with no known message kind (keys: {', '.join(keys) or 'none'}; "
            f"known: {', '.join(kinds)})",
            keys=keys,
        )
    return _convert(normalised, cls)


def _raise_if_error_payload(obj: dict[str, Any]) -> None:
    error = obj.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise ServerErrorPayload(
            str(error.get("message", "")),
            code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            status=error.get("status") if isinstance(error.get("status"), str) else None,
        )
    code = obj.get("code")
    if (
        isinstance(code, int)
        and not isinstance(code, bool)
        and ("message" in obj or "status" in obj)
    ):
        raise ServerErrorPayload(
            str(obj.get("message", "")),
            code=code,
            status=obj.get("status") if isinstance(obj.get("status"), str) else None,
        )


def decode_server_message(data: bytes | str | bytearray | memoryview) -> t.LiveServerMessage:
    """Decode one server frame (text or binary) into a :class:`LiveServerMessage`.

    Accepts compact or pretty-printed JSON, camelCase or snake_case keys,
    standard or URL-safe base64 with or without padding, and ignores fields
    and message kinds it does not know, as long as one known kind is present.

    Raises :class:`~rawlive.DecodeError` for malformed JSON, a value that is
    not an object, a field of the wrong type or invalid base64;
    :class:`~rawlive.errors.ServerErrorPayload` (a ``DecodeError``) for an
    error object, with its ``code``; and
    :class:`~rawlive.errors.UnknownMessageError` (a ``DecodeError``) for an
    object with no known kind at all.
    """
    # The fast path (rule 1 of the module). ``\u005f`` is an escaped
    # ``_``: msgspec would unescape it into a snake_case key it then ignores.
    # (A backslash is looked for first: that one-byte search is nearly free,
    # while the search for ``\u005`` costs a third of decoding an audio frame.)
    if (
        type(data) is bytes and b"_" not in data and (b"\\" not in data or b"\\u005" not in data)
    ) or (type(data) is str and "_" not in data and ("\\" not in data or "\\u005" not in data)):
        try:
            msg = _server_decoder.decode(data)
        except _FAST_PATH_ERRORS:
            pass
        else:
            if (
                msg.server_content is not None
                or msg.usage_metadata is not None
                or msg.tool_call is not None
                or msg.setup_complete is not None
                or msg.session_resumption_update is not None
                or msg.go_away is not None
                or msg.tool_call_cancellation is not None
                or msg.voice_activity is not None
                or msg.voice_activity_detection_signal is not None
            ):
                return msg
    return _decode_lenient(data, t.LiveServerMessage, _SERVER_KINDS, "server message", None)


def decode_client_message(data: bytes | str | bytearray | memoryview) -> t.LiveClientMessage:
    """Decode one client frame, as rawlive's servers receive it.

    As lenient as :func:`decode_server_message`: the official SDK sends
    ``realtime_input``/``mime_type`` and URL-safe base64, and the real server
    accepts it.
    """
    if type(data) is bytes and b"_" not in data and (b"\\" not in data or b"\\u005" not in data):
        try:
            msg = _client_decoder.decode(data)
        except _FAST_PATH_ERRORS:
            pass
        else:
            if any(getattr(msg, k) is not None for k in _CLIENT_KINDS):
                return msg
    return _decode_lenient(data, t.LiveClientMessage, _CLIENT_WIRE_KINDS, "client message", None)


def inspect_frame(
    data: bytes | str | bytearray | memoryview, *, direction: str = "server"
) -> tuple[t.LiveServerMessage | t.LiveClientMessage, WireReport]:
    """Decode a frame in strict mode: the message plus a :class:`WireReport`.

    ``direction`` is ``"server"`` (server-to-client frames) or ``"client"``.
    Decoding is as lenient as always; the report lists what it had to
    forgive or could not place. Raises :class:`DecodeError` like the decoders.
    """
    report = WireReport()
    if direction == "server":
        server = _decode_lenient(data, t.LiveServerMessage, _SERVER_KINDS, "server message", report)
        return server, report
    if direction == "client":
        client = _decode_lenient(
            data, t.LiveClientMessage, _CLIENT_WIRE_KINDS, "client message", report
        )
        return client, report
    raise ConfigError(f"direction must be 'server' or 'client', not {direction!r}")


def unknown_paths(
    data: bytes | str | bytearray | memoryview, *, direction: str = "server"
) -> list[str]:
    """Every key path and enum value in the frame that the types do not know.

    Keys come as ``serverContent.modelTurn.parts[].fooBar``; enum values as
    ``serverContent.turnCompleteReason=SOME_FUTURE_REASON``. Raises
    :class:`DecodeError` if the frame is not a message at all.
    """
    return inspect_frame(data, direction=direction)[1].unknown_paths()


# ---------------------------------------------------------------------------
# Canonical JSON: what two frames must share to mean the same to the server
# ---------------------------------------------------------------------------

# The bytes fields the conformance rules decode: ``data`` under these keys, and these keys.
_BLOB_PARENTS = frozenset({"inlineData", "audio", "video", "mediaChunks"})
_BYTES_KEYS = frozenset({"thoughtSignature", "imageData", "voiceSampleAudio", "consentAudio"})
# Caller data: keys kept as written, numbers compared by value, nothing decoded.
_USER_DATA_KEYS = frozenset({"args", "labels", "partMetadata"})


@dataclasses.dataclass(frozen=True)
class JsonNumber:
    """A JSON number in canonical form, compared by value (``40 == 40.0``; a bool is not one)."""

    value: int | float

    def __repr__(self) -> str:
        return repr(self.value)


def _number(value: int | float) -> JsonNumber:
    if isinstance(value, float) and value.is_integer():
        return JsonNumber(int(value))
    return JsonNumber(value)


def _canonical_base64(text: str) -> bytes | str:
    try:
        return decode_base64(text)
    except DecodeError:
        return text  # not base64: compared as text


def _user_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _user_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_user_data(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return value


def canonical(value: Any, key: str | None = None) -> Any:
    """A parsed JSON frame (or part of one, under ``key``) in canonical form.

    The conformance rules (``shared/conformance/README.md``): keys become
    lowerCamelCase except inside user data (``args``, ``labels``,
    ``partMetadata``, a function response's ``response``, any ``*JsonSchema``,
    a schema's ``properties`` names); base64 at bytes fields becomes bytes
    (text when it is not base64); numbers become :class:`JsonNumber`. Two
    frames that mean the same to the server's proto3 JSON parser have equal
    canonical forms, whatever their key spelling, base64 alphabet, number
    form, key order and whitespace.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            sub = camel_case(raw_key)
            if (
                sub in _USER_DATA_KEYS
                or sub.endswith("JsonSchema")
                # ``response`` is caller data in a FunctionResponse, a Schema elsewhere.
                or (sub == "response" and key in ("functionResponses", "functionResponse"))
            ):
                out[sub] = _user_data(item)
            elif sub == "properties" and isinstance(item, dict):
                # A schema's properties: the names are the caller's, the values schemas.
                out[sub] = {name: canonical(s, "properties") for name, s in item.items()}
            elif isinstance(item, str) and (
                sub in _BYTES_KEYS or (sub == "data" and key in _BLOB_PARENTS)
            ):
                out[sub] = _canonical_base64(item)
            else:
                out[sub] = canonical(item, sub)
        return out
    if isinstance(value, list):
        return [canonical(item, key) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return value

"""Property tests: every wire type survives encode -> decode unchanged.

The strategies are built from the types themselves (``msgspec.structs.fields``
and the annotations), so a Struct added to ``rawlive.wire.types`` is covered
without touching this file: open-enum strings draw known values and arbitrary
text, bytes any bytes, Durations any microsecond count, numbers finite
values, user data any JSON, and the recursive :class:`Schema` nests to a
bounded depth.

Profiles: ``rawlive-fast`` (default, keeps this file well under 30 s) and
``rawlive-thorough``; pick with ``RAWLIVE_HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import base64
import datetime
import functools
import os
import re
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawlive.wire import codec
from rawlive.wire import types as t

settings.register_profile(
    "rawlive-fast",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "rawlive-thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(os.environ.get("RAWLIVE_HYPOTHESIS_PROFILE", "rawlive-fast"))
# Messages carry the most structure: give them more examples than inner types.
MESSAGES = settings(PROFILE, max_examples=PROFILE.max_examples * 2)

# How often a Struct may appear inside itself (Schema.items, .properties...).
MAX_NESTING = 2

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)
JSON_SCALARS = st.none() | st.booleans() | INT64 | FLOATS | TEXT
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
USER_DATA = st.dictionaries(TEXT, JSON_VALUES, max_size=3)
DURATIONS = st.integers(min_value=-(10**15), max_value=10**15).map(
    lambda us: t.Duration(microseconds=us)
)
DATETIMES = st.datetimes(
    min_value=datetime.datetime(1, 1, 1, 0, 0, 1),
    timezones=st.none() | st.just(datetime.UTC),
)

ALL_STRUCTS = sorted(
    (
        obj
        for obj in vars(t).values()
        if isinstance(obj, type) and issubclass(obj, t.WireStruct) and obj is not t.WireStruct
    ),
    key=lambda cls: cls.__name__,
)


def _open_enum(tp: Any) -> type[Any] | None:
    for meta in typing.get_args(tp)[1:]:
        if isinstance(meta, msgspec.Meta) and meta.extra and "enum" in meta.extra:
            enum_cls: type[Any] = meta.extra["enum"]
            return enum_cls
    return None


def from_type(tp: Any, stack: tuple[type, ...] = ()) -> st.SearchStrategy[Any]:
    """A strategy for values of the annotation ``tp`` (``stack``: enclosing Structs)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        enum_cls = _open_enum(tp)
        if enum_cls is not None:
            return st.sampled_from([m.value for m in enum_cls]) | TEXT
        return from_type(typing.get_args(tp)[0], stack)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return st.one_of([from_type(a, stack) for a in members])
    if origin is list:
        (item,) = typing.get_args(tp)
        items = from_type(item, stack)
        return st.nothing() if items.is_empty else st.lists(items, max_size=2)
    if origin is dict:
        key, value = typing.get_args(tp)
        assert key is str, tp
        values = from_type(value, stack)
        return st.nothing() if values.is_empty else st.dictionaries(TEXT, values, max_size=2)
    if tp is Any:
        return JSON_VALUES
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return struct_strategy(tp, stack)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: TEXT,
        bool: st.booleans(),
        int: INT64,
        float: FLOATS,
        bytes: st.binary(max_size=24),
        t.Base64Bytes: st.binary(max_size=24),
        t.Duration: DURATIONS,
        datetime.datetime: DATETIMES,
    }
    if tp in simple:
        return simple[tp]
    raise TypeError(f"no strategy for {tp!r}: teach from_type about it")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def struct_strategy(
    cls: type, stack: tuple[type, ...] = (), required: tuple[str, ...] = ()
) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with any subset of fields set (``required`` always)."""
    if stack.count(cls) >= MAX_NESTING:
        return st.nothing()
    inner = (*stack, cls)
    hints = _hints(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in msgspec.structs.fields(cls):
        strategy = from_type(hints[field.name], inner)
        if not strategy.is_empty:
            fields[field.name] = strategy
    return st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: s for name, s in fields.items() if name not in required},
    ).map(lambda kwargs: cls(**kwargs))


@functools.cache
def strategy_for(cls: type, required: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    return struct_strategy(cls, required=required)


CLIENT_KINDS = [f.name for f in msgspec.structs.fields(t.LiveClientMessage)]
SERVER_KINDS = [f.name for f in msgspec.structs.fields(t.LiveServerMessage)]


def client_messages(kind: str) -> st.SearchStrategy[t.LiveClientMessage]:
    """Envelopes with exactly ``kind`` set, as a client message must be."""
    inner = _hints(t.LiveClientMessage)[kind]
    return from_type(inner).map(lambda value: t.LiveClientMessage(**{kind: value}))


def server_messages(kind: str) -> st.SearchStrategy[t.LiveServerMessage]:
    """Messages with ``kind`` set, and any others riding along."""
    return strategy_for(t.LiveServerMessage, (kind,))


def _convert_json(frame: bytes, cls: type) -> Any:
    return codec.convert(msgspec.json.decode(frame), cls)


# ---------------------------------------------------------------------------
# A message in the other spelling proto3 JSON allows
# ---------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _urlsafe_unpadded(text: str) -> str:
    return base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")


def respell(value: Any, tp: Any) -> Any:
    """Plain wire data of type ``tp`` with snake_case keys and URL-safe unpadded base64.

    Type-directed: only Struct keys are renamed, never user data (function
    args, responses, labels, JSON Schemas, map keys).
    """
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return respell(value, typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        for member in members:
            m_origin = typing.get_origin(member) or member
            if (
                (isinstance(value, dict) and (m_origin is dict or _is_struct(member)))
                or (isinstance(value, list) and m_origin is list)
                or (isinstance(value, str) and member in (str, bytes, t.Base64Bytes, t.Duration))
            ):
                return respell(value, member)
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        return [respell(v, item) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: respell(v, item) for k, v in value.items()}
    if tp in (bytes, t.Base64Bytes):
        return _urlsafe_unpadded(value)
    if _is_struct(tp):
        hints = _hints(tp)
        by_wire = {f.encode_name: f for f in msgspec.structs.fields(tp)}
        return {_snake(key): respell(item, hints[by_wire[key].name]) for key, item in value.items()}
    return value


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def test_respell_renames_struct_keys_only_and_rewrites_base64() -> None:
    msg = t.LiveClientMessage(
        tool_response=t.LiveClientToolResponse(
            function_responses=[
                t.FunctionResponse(
                    will_continue=True,
                    response={"camelKey": 1},
                    parts=[
                        t.FunctionResponsePart(
                            inline_data=t.FunctionResponseBlob(data=b"\xfb\xff", mime_type="x")
                        )
                    ],
                )
            ]
        )
    )
    assert respell(codec.to_builtins(msg), t.LiveClientMessage) == {
        "tool_response": {
            "function_responses": [
                {
                    "will_continue": True,
                    "response": {"camelKey": 1},
                    "parts": [{"inline_data": {"data": "-_8", "mime_type": "x"}}],
                }
            ]
        }
    }


# ---------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------


def test_every_struct_has_a_strategy() -> None:
    assert len(ALL_STRUCTS) > 80
    for cls in ALL_STRUCTS:
        assert not strategy_for(cls).is_empty, cls


def test_schema_nests_but_only_to_a_bounded_depth() -> None:
    def depth(schema: t.Schema | None) -> int:
        if schema is None:
            return 0
        children = [schema.items, *(schema.any_of or []), *(schema.properties or {}).values()]
        children += list((schema.defs or {}).values())
        return 1 + max((depth(c) for c in children), default=0)

    depths: set[int] = set()

    @settings(PROFILE, max_examples=200)
    @given(strategy_for(t.Schema))
    def collect(schema: t.Schema) -> None:
        depths.add(depth(schema))

    collect()
    assert max(depths) == MAX_NESTING


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_client_messages_round_trip(kind: str) -> None:
    @MESSAGES
    @given(client_messages(kind))
    def check(msg: t.LiveClientMessage) -> None:
        frame = codec.encode_client_message(msg)
        decoded = codec.decode_client_message(frame)
        assert decoded == msg
        assert codec.encode_client_message(decoded) == frame
        assert codec.decode_client_message(frame.decode("utf-8")) == msg
        # the inner message is wrapped into the same frame
        assert codec.encode_client_message(getattr(msg, kind)) == frame

    check()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_messages_round_trip(kind: str) -> None:
    @MESSAGES
    @given(server_messages(kind))
    def check(msg: t.LiveServerMessage) -> None:
        frame = codec.encode_server_message(msg)
        decoded = codec.decode_server_message(frame)
        assert decoded == msg
        assert codec.encode_server_message(decoded) == frame
        assert codec.decode_server_message(frame.decode("utf-8")) == msg

    check()


@pytest.mark.parametrize("cls", ALL_STRUCTS, ids=lambda cls: cls.__name__)
def test_every_wire_type_round_trips_through_codec_encode_and_convert(cls: type) -> None:
    @settings(PROFILE)
    @given(strategy_for(cls))
    def check(obj: Any) -> None:
        frame = codec.encode(obj)
        decoded = _convert_json(frame, cls)
        assert decoded == obj
        assert codec.encode(decoded) == frame
        assert _convert_json(codec.encode(decoded), cls) == decoded

    check()


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_client_messages_in_snake_case_with_url_safe_base64_decode_the_same(kind: str) -> None:
    @MESSAGES
    @given(client_messages(kind))
    def check(msg: t.LiveClientMessage) -> None:
        other = msgspec.json.encode(respell(codec.to_builtins(msg), t.LiveClientMessage))
        assert codec.decode_client_message(other) == msg

    check()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_messages_in_snake_case_with_url_safe_base64_decode_the_same(kind: str) -> None:
    @MESSAGES
    @given(server_messages(kind))
    def check(msg: t.LiveServerMessage) -> None:
        other = msgspec.json.encode(respell(codec.to_builtins(msg), t.LiveServerMessage))
        assert codec.decode_server_message(other) == msg
        assert codec.decode_server_message(other.decode("utf-8")) == msg

    check()

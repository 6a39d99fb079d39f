"""Emulator scripts: what the local emulator answers, turn by turn.

The emulator is not a model: with a script it plays the replies, tool calls
and faults the script lists. A script is a TOML or JSON file loaded by
:func:`load_script`; the types below are the format (the README's "The script
format" is its reference, ``schemas/emulator-script.schema.json`` its JSON
Schema). Any problem raises :class:`rawlive.ConfigError` naming the file, the
key's path and what to do.

This module is the format only. The emulator reads it:
:func:`rawlive.servers.emulator.reply_plan` turns a scripted turn into a
:class:`~rawlive.servers.emulator.ReplyPlan` (audio decoded, ids generated) and
:func:`rawlive.servers.emulator.emulator_faults` the faults into what it fires;
:class:`FaultPoint` is the parsed ``at``. A :class:`TurnFault` (a turn's
``fault``, an entry of ``turn_faults``) is drawn by
:class:`rawlive.servers.emulator.faults.TurnFaults`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import msgspec.inspect as mi

from rawlive.errors import ConfigError

__all__ = [
    "DEFAULT_CLOSE_CODE",
    "DEFAULT_CLOSE_REASON",
    "DEFAULT_CUT_FRACTION",
    "DEFAULT_EARLY_SILENCE_MS",
    "DEFAULT_PONG_DELAY_S",
    "DEFAULT_SEED",
    "DEFAULT_TIME_LEFT_S",
    "FAULT_AT_PATTERN",
    "Fault",
    "FaultAction",
    "FaultPoint",
    "Reply",
    "Script",
    "ToolCall",
    "Turn",
    "TurnFault",
    "TurnFaultAction",
    "Usage",
    "load_script",
    "parse_fault_point",
]

DEFAULT_CLOSE_CODE = 1011
DEFAULT_CLOSE_REASON = "Internal error occurred."
DEFAULT_TIME_LEFT_S = 5.0
DEFAULT_PONG_DELAY_S = 30.0
#: ``cut_reply`` without ``cut_ms`` or ``cut_fraction``: half the reply is sent.
DEFAULT_CUT_FRACTION = 0.5
#: ``early_end`` without ``early_silence_ms``: a 300 ms pause ends the user's turn.
DEFAULT_EARLY_SILENCE_MS = 300
#: The seed of the random draws of ``probability`` when the script gives none.
DEFAULT_SEED = 0

FAULT_AT_PATTERN = (
    r"^(after_setup|turn:[1-9][0-9]*(:(start|end))?|message:[1-9][0-9]*"
    r"|seconds:[0-9]+(\.[0-9]+)?)$"
)
"""The grammar of ``Fault.at`` (also in the JSON Schema)."""

_CLOSE_CODES = "1000-1003, 1007-1014 or 3000-4999"
_REASON_MAX_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 for the code

FaultAction = Literal["drop", "close", "go_away", "late_pongs", "unknown_message", "malformed"]
TurnFaultAction = Literal[
    "stall", "empty_turn", "cut_reply", "no_answer", "early_end", "drop_final_transcription"
]


def _invalid(field: str, problem: str) -> ConfigError:
    """A validation error for ``field``; :func:`load_script` prefixes the path to it."""
    return ConfigError(f"{field}: {problem}")


class _Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Base of the script's tables: snake_case keys, unknown keys rejected."""


# -- a turn --------------------------------------------------------------------------------------

# Constrained values. A field's description annotates its whole (optional) type, so the JSON
# Schema shows it on the property itself.
_Count = Annotated[int, msgspec.Meta(ge=0)]
_Positive = Annotated[int, msgspec.Meta(gt=0)]
_NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
_PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
_Name = Annotated[str, msgspec.Meta(min_length=1)]


def _doc(text: str, **schema: Any) -> msgspec.Meta:
    """A field's description (and extra JSON Schema keywords, not checked when loading)."""
    return msgspec.Meta(description=text, extra_json_schema=schema or None)


class Usage(_Config):
    """Token counts that override the computed usageMetadata of a turn."""

    prompt_tokens: Annotated[_Count | None, _doc("promptTokenCount (default: computed).")] = None
    response_tokens: Annotated[_Count | None, _doc("responseTokenCount (default: computed).")] = (
        None
    )


class ToolCall(_Config):
    """One function the model calls (an entry of toolCall.functionCalls)."""

    name: Annotated[_Name, _doc("The function's name.")]
    args: Annotated[dict[str, Any], _doc("The call's arguments (default: none).")] = {}
    id: Annotated[
        _Name | None, _doc("The call id (default: generated, function-call-<digits>).")
    ] = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise _invalid("name", "give the function's name (it is blank)")
        if self.id is not None and not self.id.strip():
            raise _invalid("id", "give a non-blank id, or leave id out to have one generated")


class Reply(_Config):
    """What the model says: the reply part of a turn, and a turn's after_tool reply."""

    delay_ms: Annotated[_Count, _doc("Wait this long before sending anything (ms).")] = 0
    text: Annotated[
        str | None,
        _doc(
            "A model text part (TEXT modality, or a reply with no audio); "
            "{frames}, {last_width}, {last_height}: the turn's video frames."
        ),
    ] = None
    output_transcription: Annotated[
        str | None,
        _doc(
            "Sent only if the setup asked for outputAudioTranscription; "
            "{frames}, {last_width}, {last_height} as in text."
        ),
    ] = None
    audio: Annotated[
        str | None,
        _doc(
            "An audio file soundfile reads, relative to the script's folder; "
            "streamed as 24 kHz s16le chunks. Exclusive with tone_ms."
        ),
    ] = None
    tone_ms: Annotated[
        _Positive | None, _doc("Instead of audio: a quiet 440 Hz tone this long (ms).")
    ] = None

    def __post_init__(self) -> None:
        if self.audio is not None and self.tone_ms is not None:
            raise _invalid("tone_ms", "give either audio or tone_ms, not both")
        if self.audio is not None and not self.audio.strip():
            raise _invalid("audio", "give the path of an audio file (it is blank)")


class TurnFault(_Config):
    """A turn the server gets wrong: a turn's ``fault``, or an entry of ``turn_faults``.

    Without ``probability`` it applies once: to the first attempt at its
    turn in the emulator's life (a turn re-sent after a resume is answered
    normally). With it, every attempt at the turn draws anew from the
    script's seeded generator.
    """

    action: Annotated[TurnFaultAction, _doc("What goes wrong.")]
    probability: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=1)] | None,
        _doc(
            "Each attempt at the turn draws: the fault applies with this probability "
            "(default: once, to the first attempt)."
        ),
    ] = None
    turns: Annotated[
        list[_Positive] | None,
        _doc("turn_faults only: the user turns it may hit (default: every turn)."),
    ] = None
    stall_s: Annotated[
        _PositiveFloat | None,
        _doc("stall: how long nothing comes, in wall-clock seconds (default: forever)."),
    ] = None
    during_ms: Annotated[
        _Count | None,
        _doc("stall: stall after this much reply audio (default: before the reply begins)."),
    ] = None
    pongs: Annotated[
        bool | None, _doc("stall: false: pings go unanswered too during the stall (default true).")
    ] = None
    cut_ms: Annotated[
        _Positive | None, _doc("cut_reply: the reply audio sent before it stops (ms).")
    ] = None
    cut_fraction: Annotated[
        Annotated[float, msgspec.Meta(gt=0, lt=1)] | None,
        _doc(
            "cut_reply: the share of the reply sent before it stops "
            f"(default {DEFAULT_CUT_FRACTION})."
        ),
    ] = None
    early_silence_ms: Annotated[
        _Positive | None,
        _doc(
            "early_end: the pause that ends the user's turn, shorter than silenceDurationMs "
            f"(default {DEFAULT_EARLY_SILENCE_MS})."
        ),
    ] = None

    def __post_init__(self) -> None:
        owners = {
            "stall_s": "stall",
            "during_ms": "stall",
            "pongs": "stall",
            "cut_ms": "cut_reply",
            "cut_fraction": "cut_reply",
            "early_silence_ms": "early_end",
        }
        for name, action in owners.items():
            if getattr(self, name) is not None and self.action != action:
                raise _invalid(
                    name,
                    f"{name} goes with action = {action!r} only (this fault is {self.action!r}); "
                    "remove it or change the action",
                )
        if self.cut_ms is not None and self.cut_fraction is not None:
            raise _invalid("cut_fraction", "give either cut_ms or cut_fraction, not both")

    @property
    def once(self) -> bool:
        """No ``probability``: the fault hits its turn's first attempt only."""
        return self.probability is None

    @property
    def answers_pings(self) -> bool:
        return self.pongs is not False

    @property
    def silence_ms(self) -> int:
        """``early_end``'s pause."""
        return (
            self.early_silence_ms if self.early_silence_ms is not None else DEFAULT_EARLY_SILENCE_MS
        )

    def cut_text(self, text: str) -> str:
        """``cut_reply`` of a text reply: its first ``cut_fraction`` (``cut_ms``: the default)."""
        fraction = self.cut_fraction if self.cut_fraction is not None else DEFAULT_CUT_FRACTION
        return text[: max(1, round(len(text) * fraction))]

    def cut_bytes(self, total: int) -> int:
        """``cut_reply``: how much of a reply of ``total`` bytes of 24 kHz s16le is sent."""
        if self.cut_ms is not None:
            kept = self.cut_ms * 48
        else:
            fraction = self.cut_fraction if self.cut_fraction is not None else DEFAULT_CUT_FRACTION
            kept = round(total * fraction)
        return min(total, kept) & ~1


class Turn(Reply):
    """The emulator's answer to one user turn: a reply, or tool calls then a reply."""

    input_transcription: Annotated[
        str | None, _doc("Sent only if the setup asked for inputAudioTranscription.")
    ] = None
    language_code: Annotated[
        _Name | None,
        _doc(
            "The language the caller spoke (BCP-47): Transcribe Live's languageCode and the "
            "translation model's source language (default: the setup's first "
            "inputAudioTranscription.languageCodes, else en)."
        ),
    ] = None
    usage: Annotated[Usage | None, _doc("Override of the turn's computed token counts.")] = None
    tool_calls: Annotated[
        list[ToolCall], _doc("Tools the model calls; the turn then replies in after_tool.")
    ] = []
    after_tool: Annotated[Reply | None, _doc("The reply once every tool call has a response.")] = (
        None
    )
    filler: Annotated[
        Reply | None,
        _doc(
            "What a model that speaks fillers (extended thinking) says before its tool_calls "
            "(default: a 600 ms tone transcribed 'Checking that now.'); other models ignore it."
        ),
    ] = None

    fault: Annotated[
        TurnFault | None,
        _doc("How the server gets this turn wrong (stall, empty_turn, cut_reply, ...)."),
    ] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fault is not None and self.fault.turns is not None:
            raise _invalid(
                "fault.turns",
                "a turn's fault hits that turn; turns goes in a [[turn_faults]] entry",
            )
        if self.after_tool is not None and not self.tool_calls:
            raise _invalid(
                "after_tool",
                "after_tool needs tool_calls; without tool calls, put the reply in the turn itself",
            )
        if self.filler is not None and not self.tool_calls:
            raise _invalid(
                "filler",
                "filler needs tool_calls: it is spoken while they run; "
                "without tool calls, put the reply in the turn itself",
            )
        if self.tool_calls:
            for name in ("text", "audio", "tone_ms", "output_transcription"):
                if getattr(self, name) is not None:
                    raise _invalid(
                        name,
                        f"a turn with tool_calls speaks in after_tool: move {name} into after_tool",
                    )
        seen: set[str] = set()
        for index, call in enumerate(self.tool_calls):
            if call.id is None:
                continue
            if call.id in seen:
                raise _invalid(
                    f"tool_calls[{index}].id",
                    f"id {call.id!r} is used twice in this turn; give each call its own id",
                )
            seen.add(call.id)


# -- faults --------------------------------------------------------------------------------------


class FaultPoint(NamedTuple):
    """A parsed ``Fault.at``: ``kind`` and its number (``None`` for ``after_setup``).

    ``kind`` is ``"after_setup"``, ``"turn"`` (the end of a reply),
    ``"turn_start"``, ``"message"`` or ``"seconds"``; ``value`` is the turn
    or message number (int, from 1) or the seconds (float).
    """

    kind: Literal["after_setup", "turn", "turn_start", "message", "seconds"]
    value: int | float | None = None

    def __str__(self) -> str:
        if self.kind == "after_setup":
            return "after_setup"
        if self.kind == "turn_start":
            return f"turn:{self.value}:start"
        return f"{self.kind}:{self.value}"


def parse_fault_point(text: str) -> FaultPoint:
    """Parse ``at`` (see the module docs); :class:`ConfigError` naming ``at`` if invalid."""
    kind, _, rest = text.partition(":")
    if kind == "after_setup" and not rest:
        return FaultPoint("after_setup")
    if kind in ("turn", "message"):
        number, _, phase = rest.partition(":")
        if number.isdecimal() and number.isascii() and int(number) >= 1:
            if kind == "message" and not phase:
                return FaultPoint("message", int(number))
            if kind == "turn" and phase in ("", "end"):
                return FaultPoint("turn", int(number))
            if kind == "turn" and phase == "start":
                return FaultPoint("turn_start", int(number))
    if kind == "seconds" and re.fullmatch(r"[0-9]+(\.[0-9]+)?", rest):
        return FaultPoint("seconds", float(rest))
    raise _invalid(
        "at",
        f"{text!r} is not a fault point; use after_setup, turn:N, turn:N:start, turn:N:end, "
        "message:N (N from 1) or seconds:X (e.g. seconds:2.5)",
    )


class Fault(_Config):
    """A fault the emulator injects: when (at) and what (action)."""

    at: Annotated[
        str,
        _doc(
            "When: after_setup, turn:N (the end of the reply to user turn N), turn:N:start, "
            "turn:N:end, message:N (after the N-th client message) or seconds:X.",
            pattern=FAULT_AT_PATTERN,
            examples=["after_setup", "turn:2", "turn:1:start", "message:3", "seconds:2.5"],
        ),
    ]
    action: Annotated[FaultAction, _doc("What happens.")]
    code: Annotated[
        Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 1000, "maximum": 4999})] | None,
        _doc(f"close: the close code ({_CLOSE_CODES}; default {DEFAULT_CLOSE_CODE})."),
    ] = None
    reason: Annotated[
        Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": _REASON_MAX_BYTES})] | None,
        _doc(f"close: the close reason (default {DEFAULT_CLOSE_REASON!r})."),
    ] = None
    time_left_s: Annotated[
        _NonNegativeFloat | None,
        _doc("go_away: goAway.timeLeft; the connection then ends (default 5)."),
    ] = None
    delay_s: Annotated[
        _PositiveFloat | None, _doc("late_pongs: how long pings go unanswered (default 30).")
    ] = None

    def __post_init__(self) -> None:
        parse_fault_point(self.at)
        owners = {"code": "close", "reason": "close", "time_left_s": "go_away"}
        owners["delay_s"] = "late_pongs"
        for name, action in owners.items():
            if getattr(self, name) is not None and self.action != action:
                raise _invalid(
                    name,
                    f"{name} goes with action = {action!r} only (this fault is {self.action!r}); "
                    "remove it or change the action",
                )
        if self.code is not None and not _sendable_close_code(self.code):
            hint = (
                "; for a connection that ends with no close frame (1006), use action = 'drop'"
                if self.code == 1006
                else ""
            )
            raise _invalid(
                "code", f"{self.code} cannot be sent in a close frame; use {_CLOSE_CODES}{hint}"
            )
        if self.reason is not None and len(self.reason.encode()) > _REASON_MAX_BYTES:
            raise _invalid(
                "reason",
                f"a close reason is at most {_REASON_MAX_BYTES} UTF-8 bytes "
                f"(this one is {len(self.reason.encode())}); shorten it",
            )

    @property
    def point(self) -> FaultPoint:
        """``at``, parsed."""
        return parse_fault_point(self.at)

    @property
    def close_code(self) -> int:
        return self.code if self.code is not None else DEFAULT_CLOSE_CODE

    @property
    def close_reason(self) -> str:
        return self.reason if self.reason is not None else DEFAULT_CLOSE_REASON

    @property
    def go_away_time_left(self) -> float:
        return self.time_left_s if self.time_left_s is not None else DEFAULT_TIME_LEFT_S

    @property
    def pong_delay(self) -> float:
        return self.delay_s if self.delay_s is not None else DEFAULT_PONG_DELAY_S


def _sendable_close_code(code: int) -> bool:
    """Codes a close frame may carry (RFC 6455 §7.4, as websockets enforces them)."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


# -- the script ----------------------------------------------------------------------------------


class Script(_Config):
    """An emulator script: reply pacing and framing, the replies turn by turn, and faults."""

    json_schema: Annotated[
        str | None, _doc("The JSON Schema of this file, for editors; ignored.")
    ] = msgspec.field(default=None, name="$schema")
    model_reply_chunk_ms: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=10_000)], _doc("Audio per reply chunk (ms).")
    ] = 40
    speed: Annotated[
        _NonNegativeFloat, _doc("Pacing: 1.0 real time, 2.0 twice as fast, 0 as fast as possible.")
    ] = 1.0
    frames: Annotated[
        Literal["text", "binary"], _doc("WebSocket opcode of the server's JSON messages.")
    ] = "text"
    pretty: Annotated[bool, _doc("Pretty-print the server's JSON.")] = False
    turns: Annotated[
        list[Turn], _doc("Replies to user turns 1, 2, ...; after them, the default reply.")
    ] = []
    faults: Annotated[list[Fault], _doc("Faults to inject.")] = []
    turn_faults: Annotated[
        list[TurnFault],
        _doc("Turns the server gets wrong, any turn (or those in turns), each with a probability."),
    ] = []
    seed: Annotated[
        int, _doc(f"Seed of the probability draws (default {DEFAULT_SEED}: reproducible runs).")
    ] = DEFAULT_SEED

    @classmethod
    def default(cls) -> Script:
        """The script used without a file: no scripted turns (the default reply), no faults."""
        return cls()

    def turn(self, number: int) -> Turn | None:
        """The scripted reply to user turn ``number`` (from 1), or ``None``: the default reply."""
        return self.turns[number - 1] if 1 <= number <= len(self.turns) else None

    def replies(self) -> Iterator[tuple[str, Reply]]:
        """Every reply in the script with its path (``turns[0]``, ``turns[0].after_tool``)."""
        for index, turn in enumerate(self.turns):
            yield f"turns[{index}]", turn
            if turn.after_tool is not None:
                yield f"turns[{index}].after_tool", turn.after_tool


# -- loading -------------------------------------------------------------------------------------


def load_script(path: str | os.PathLike[str]) -> Script:
    """Read a ``.toml`` or ``.json`` script, validate it, resolve its audio paths.

    ``audio`` paths become absolute (relative ones are taken from the
    script's folder) and each file must be audio soundfile can read. Every
    problem raises :class:`ConfigError` naming the file and the key's path.
    """
    name = os.fspath(path)
    file = Path(name)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{name}: unknown script format; name the file *.toml or *.json")
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such script file") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the script ({exc.strerror or exc})") from None
    try:
        if suffix == ".toml":
            script = _decode_toml(name, data)
        else:
            script = msgspec.json.decode(data, type=Script)
    except msgspec.ValidationError as exc:
        raise _config_error(name, exc) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON: {_json_position(str(exc), data)}") from None
    _resolve_audio(name, script, Path(os.path.abspath(name)).parent)
    return script


def _decode_toml(name: str, data: bytes) -> Script:
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    return msgspec.convert(table, Script)


def _json_position(message: str, data: bytes) -> str:
    """msgspec's ``(byte N)`` as a line and column."""
    found = re.search(r"\(byte (\d+)\)$", message)
    if not found:
        return message
    offset = min(int(found.group(1)), len(data))
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"{message[: found.start()].rstrip()} (at line {line}, column {column})"


def _resolve_audio(name: str, script: Script, folder: Path) -> None:
    from rawlive.media.audio import AudioFileError, file_info

    for where, reply in script.replies():
        if reply.audio is None:
            continue
        audio = Path(reply.audio).expanduser()
        if not audio.is_absolute():
            audio = Path(os.path.normpath(folder / audio))
        if not audio.is_file():
            raise ConfigError(
                f"{name}: {where}.audio: no audio file at {audio} "
                f"(relative paths start from the script's folder, {folder})"
            )
        try:
            file_info(audio)
        except AudioFileError as exc:
            raise ConfigError(f"{name}: {where}.audio: {exc}") from None
        reply.audio = str(audio)


# -- error messages ------------------------------------------------------------------------------

_AT = re.compile(r"(?s)(.*) - at `\$(.*)`")
_OWN = re.compile(r"(?s)([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): (.*)")
_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def _config_error(name: str, exc: msgspec.ValidationError) -> ConfigError:
    """A msgspec validation error as ``file: path: problem``."""
    text = str(exc)
    at = _AT.fullmatch(text)
    message, path = (at.group(1), at.group(2).lstrip(".")) if at else (text, "")
    own = _OWN.fullmatch(message)
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", message)
    missing = re.fullmatch(r"Object missing required field `(.*)`", message)
    if own:  # raised by a __post_init__ above: "field: problem"
        path, message = _join(path, own.group(1)), own.group(2)
    elif unknown:
        key = unknown.group(1)
        message = _unknown_key(path, key)
        path = _join(path, key)
    elif missing:
        path, message = _join(path, missing.group(1)), "required key missing; add it"
    else:
        message = message[:1].lower() + message[1:]
        choices = _literal_choices(path)
        if choices:
            message += f"; use one of {', '.join(repr(c) for c in choices)}"
        value = re.fullmatch(r"invalid enum value '(.*)'", message.split(";")[0])
        action = value.group(1) if value else ""
        if action in typing.get_args(TurnFaultAction) and re.fullmatch(
            r"faults\[\d+\]\.action", path
        ):
            message += (
                f" ({action} is a turn's fault: put it in the turn's fault table, "
                "or in a [[turn_faults]] entry with turns = [N])"
            )
    return ConfigError(f"{name}: {path or '(top level)'}: {message}")


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\..+)?", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _unwrap(node: mi.Type) -> mi.Type:
    while True:
        if isinstance(node, mi.Metadata):
            node = node.type
        elif isinstance(node, mi.UnionType):
            members = [m for m in node.types if not isinstance(m, mi.NoneType)]
            if len(members) != 1:
                return node
            node = members[0]
        else:
            return node


def _type_at(path: str) -> mi.Type | None:
    """The type of the value at ``path`` (``turns[0].after_tool``) in a script."""
    node: mi.Type = mi.type_info(Script)
    for match in _TOKEN.finditer(path if path.startswith("[") else f".{path}"):
        node = _unwrap(node)
        key, index = match.groups()
        if key is not None and isinstance(node, mi.StructType):
            fields = {f.encode_name: f.type for f in node.fields}
            if key not in fields:
                return None
            node = fields[key]
        elif index is not None and isinstance(node, mi.ListType):
            node = node.item_type
        elif index is not None and isinstance(node, mi.DictType):
            node = node.value_type
        else:
            return None
    return _unwrap(node)


def _unknown_key(path: str, key: str) -> str:
    node = _type_at(path)
    if not isinstance(node, mi.StructType):
        return f"unknown key {key!r}; remove it"
    known = [f.encode_name for f in node.fields]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if not path and not close:  # a turn's or a fault's key at the top level
        for table, cls in (
            ("[[turns]]", Turn),
            ("[[faults]]", Fault),
            ("[[turn_faults]]", TurnFault),
        ):
            if any(f.encode_name == key for f in msgspec.structs.fields(cls)):
                hint = f"{key} is a key of {table} entries, not of the top level; "
                break
    listed = ", ".join(sorted(k for k in known if not k.startswith("$")))
    return f"unknown key {key!r}; {hint}known keys here: {listed}"


def _literal_choices(path: str) -> list[Any]:
    node = _type_at(path)
    return list(node.values) if isinstance(node, mi.LiteralType) else []

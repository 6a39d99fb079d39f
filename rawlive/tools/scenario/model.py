"""The scenario format: a conversation's user turns, its tools, and what it must do.

A :class:`Scenario` is written in TOML or JSON and read by
:func:`load_scenario` (``schemas/scenario.schema.json`` is its JSON Schema;
the README's "Test a conversation: ``rawlive scenario``" its reference), or
built in Python from the same Structs. The rules:

1. Each entry of ``turns`` is exactly one of: ``audio`` (a media file sent
   as the user's speech, then ``audioStreamEnd``), ``text`` (sent as
   ``realtimeInput.text`` by default, ``PROTOCOL.md`` §2.3, or as
   ``clientContent`` with role ``user`` and ``turnComplete`` when ``via =
   "client_content"``, §2.2 and §10.4: 3.8 takes it at any point of the
   session and closes on a turn without a role), ``speak`` (text made
   into speech by the speech source, :mod:`rawlive.media.speech`, cached
   in ``speech_cache``; the text is the turn's ``says`` too), ``pause``
   (seconds with nothing sent) or ``silence`` (seconds of silent audio
   sent, paced). Turns are numbered from 1 in the order written, pauses
   included.
2. ``says`` is what a turn's audio says: the reference of its word error
   rate (``expect.max_wer``) against the server's input transcription.
3. ``tools`` declares functions; each one's ``response`` is what the runner
   answers a call with (in Python, a callable given to
   :func:`~rawlive.tools.scenario.run_scenario` as ``handlers`` answers
   instead).
4. Paths (``audio``, ``emulator_script``, ``speech_cache``) are taken from
   the scenario file's folder when relative (from the current folder for a
   scenario built in Python); :func:`load_scenario` makes them absolute.
5. Any problem raises :class:`~rawlive.errors.ConfigError` in one line
   naming the file, the key's path and what to do.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from rawlive.core.models import RECOMMENDED
from rawlive.errors import ConfigError

__all__ = [
    "SEVERITY_NAMES",
    "Expect",
    "ExpectToolCall",
    "Scenario",
    "ScenarioConfig",
    "ScenarioExpect",
    "ToolSpec",
    "Turn",
    "load_scenario",
]

SEVERITY_NAMES = ("info", "warning", "error")

Severity = Literal["info", "warning", "error"]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Base of the scenario's tables: snake_case keys, unknown keys rejected."""


class ScenarioConfig(_Table):
    """The session config knobs a scenario sets (the rest as ``rawlive send`` builds it)."""

    voice: Annotated[str | None, _doc("Prebuilt voice of the replies (e.g. Kore).")] = None
    transcription: Annotated[
        bool, _doc("Ask for input and output audio transcription (default true).")
    ] = True
    system_instruction: Annotated[str | None, _doc("The system instruction.")] = None


class ToolSpec(_Table, kw_only=True):
    """A function the model may call, and the canned response the runner answers with."""

    name: Annotated[str, msgspec.Meta(min_length=1), _doc("The function's name.")]
    description: Annotated[str | None, _doc("What it does, for the model.")] = None
    parameters: Annotated[
        dict[str, Any] | None, _doc("Its parameters: an OpenAPI-style object schema.")
    ] = None
    response: Annotated[
        dict[str, Any] | None,
        _doc("The canned response (a JSON object); none: an error saying there is none."),
    ] = None


class ExpectToolCall(_Table, kw_only=True):
    """A tool call a turn must make: its name, and its arguments exactly or in part."""

    name: Annotated[str, msgspec.Meta(min_length=1), _doc("The function's name.")]
    args: Annotated[dict[str, Any] | None, _doc("The arguments, exactly.")] = None
    args_subset: Annotated[
        dict[str, Any] | None, _doc("Arguments that must be there with these values.")
    ] = None


class Expect(_Table):
    """What a turn must do; every expectation given is checked, every failure reported."""

    tool_calls: Annotated[
        list[ExpectToolCall], _doc("Tool calls the turn must make (in any order).")
    ] = []
    no_tool_calls: Annotated[bool, _doc("The turn makes no tool call.")] = False
    reply_contains: Annotated[
        str | list[str] | None, _doc("Text the reply's transcript contains (case ignored).")
    ] = None
    reply_matches: Annotated[
        str | None, _doc("A regular expression the reply's transcript matches (re.search).")
    ] = None
    first_transcription: Annotated[
        _Seconds | None, _doc("Budget (s) from the end of the user's input to its transcription.")
    ] = None
    first_audio: Annotated[
        _Seconds | None, _doc("Budget (s) from the end of the user's input to the reply's audio.")
    ] = None
    turn_complete: Annotated[
        _Seconds | None, _doc("Budget (s) from the end of the user's input to the reply's end.")
    ] = None
    max_wer: Annotated[
        _Seconds | None,
        _doc("Highest word error rate of the input transcription against the turn's says."),
    ] = None


class Turn(_Table, kw_only=True):
    """One entry of the conversation: exactly one of audio, text, speak, pause, silence."""

    audio: Annotated[str | None, _doc("A media file sent as the user's speech.")] = None
    text: Annotated[str | None, _doc("Text sent as text (see via).")] = None
    speak: Annotated[
        str | None, _doc("Text spoken through the speech source (and the turn's says).")
    ] = None
    pause: Annotated[_Seconds | None, _doc("Seconds with nothing sent.")] = None
    silence: Annotated[_Seconds | None, _doc("Seconds of silent audio sent.")] = None
    says: Annotated[
        str | None, _doc("What the audio says: the reference of the word error rate.")
    ] = None
    via: Annotated[
        Literal["realtime_input", "client_content"],
        _doc("How text goes: realtimeInput.text, or clientContent with turnComplete."),
    ] = "realtime_input"
    timeout: Annotated[
        Annotated[float, msgspec.Meta(gt=0)],
        _doc("Seconds to wait for the reply to complete (after the input's end)."),
    ] = 30.0
    expect: Annotated[Expect | None, _doc("What this turn must do.")] = None

    def __post_init__(self) -> None:
        given = [k for k in ("audio", "text", "speak", "pause", "silence") if getattr(self, k)]
        given += [k for k in ("pause", "silence") if getattr(self, k) == 0 and k not in given]
        if len(given) != 1:
            what = ", ".join(given) if given else "none of them"
            raise ConfigError(
                f"turn: give exactly one of audio, text, speak, pause, silence (here {what})"
            )
        if self.speak and self.says is None:
            self.says = self.speak

    @property
    def kind(self) -> str:
        """``audio``, ``text``, ``speak``, ``pause`` or ``silence``."""
        for name in ("audio", "text", "speak", "pause", "silence"):
            if getattr(self, name) is not None:
                return name
        return "pause"  # unreachable: __post_init__ checks there is one

    @property
    def replies(self) -> bool:
        """Whether a reply is awaited after this turn (not after a pause or silence)."""
        return self.kind in ("audio", "text", "speak")


class ScenarioExpect(_Table):
    """What the whole run must do."""

    no_findings: Annotated[
        Severity | None,
        _doc("No audit finding at or above this severity (default warning; null: not checked)."),
    ] = "warning"


class Scenario(_Table, kw_only=True):
    """A conversation to run against a Live API and what it must do."""

    json_schema: Annotated[
        str | None, _doc("The JSON Schema of this file, for editors; ignored.")
    ] = msgspec.field(default=None, name="$schema")
    name: Annotated[str, msgspec.Meta(min_length=1), _doc("The scenario's name.")]
    model: Annotated[str, _doc(f"The Live model (default {RECOMMENDED}).")] = RECOMMENDED
    config: Annotated[ScenarioConfig, _doc("Session config.")] = msgspec.field(
        default_factory=ScenarioConfig
    )
    tools: Annotated[list[ToolSpec], _doc("Functions declared, with canned responses.")] = []
    turns: Annotated[list[Turn], msgspec.Meta(min_length=1), _doc("The user's turns, in order.")]
    emulator_script: Annotated[
        str | None,
        _doc("The emulator script that plays the model's part (the emulator has no ASR)."),
    ] = None
    speech_cache: Annotated[
        str, _doc("Folder of the spoken turns' cached WAVs (default .speech).")
    ] = ".speech"
    speech_voice: Annotated[str | None, _doc("Voice of the spoken turns.")] = None
    expect: Annotated[ScenarioExpect, _doc("What the whole run must do.")] = msgspec.field(
        default_factory=ScenarioExpect
    )
    #: The file it was read from (``None``: built in Python).
    source: Annotated[str | None, _doc("Set by the loader: the file read; ignored.")] = None

    def resolved(self, folder: str | os.PathLike[str] | None = None) -> Scenario:
        """A copy whose relative paths are taken from ``folder`` (default: the current one)."""
        base = Path(folder) if folder is not None else Path.cwd()

        def absolute(path: str) -> str:
            given = Path(path).expanduser()
            return str(given if given.is_absolute() else Path(os.path.normpath(base / given)))

        turns = [
            msgspec.structs.replace(turn, audio=absolute(turn.audio)) if turn.audio else turn
            for turn in self.turns
        ]
        script = absolute(self.emulator_script) if self.emulator_script else None
        return msgspec.structs.replace(
            self,
            turns=turns,
            emulator_script=script,
            speech_cache=absolute(self.speech_cache),
        )

    def tool_responses(self) -> dict[str, dict[str, Any]]:
        """Each declared function's canned response, by name."""
        return {tool.name: tool.response for tool in self.tools if tool.response is not None}

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode("utf-8")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a ``.toml`` or ``.json`` scenario; its paths made absolute (rule 4).

    Raises :class:`ConfigError` naming the file, the key's path and what to do.
    """
    name = os.fspath(path)
    file = Path(name)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{name}: unknown scenario format; name the file *.toml or *.json")
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such scenario file") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the scenario ({exc.strerror or exc})") from None
    try:
        if suffix == ".toml":
            try:
                table = tomllib.loads(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
                ) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{name}: not valid TOML: {exc}") from None
            scenario = msgspec.convert(table, Scenario)
        else:
            scenario = msgspec.json.decode(data, type=Scenario)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{name}: {_problem(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON: {exc}") from None
    folder = Path(os.path.abspath(name)).parent
    scenario = scenario.resolved(folder)
    for number, turn in enumerate(scenario.turns, 1):
        if turn.audio and not Path(turn.audio).is_file():
            raise ConfigError(
                f"{name}: turns[{number - 1}].audio: no file at {turn.audio} "
                f"(relative paths start from the scenario's folder, {folder})"
            )
    if scenario.emulator_script and not Path(scenario.emulator_script).is_file():
        raise ConfigError(
            f"{name}: emulator_script: no file at {scenario.emulator_script} "
            f"(relative paths start from the scenario's folder, {folder})"
        )
    return msgspec.structs.replace(scenario, source=os.path.abspath(name))


def _problem(message: str) -> str:
    """msgspec's ``problem - at `$.turns[0].audio``` as ``turns[0].audio: problem; what to do``."""
    text, _, where = message.partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    if text.startswith("Object contains unknown field"):
        key = text.split("`")[1]
        where = f"{where}.{key}" if where else key
        return f"{where}: unknown key {key!r}; remove it or check its spelling"
    if text.startswith("Object missing required field"):
        key = text.split("`")[1]
        where = f"{where}.{key}" if where else key
        return f"{where}: required key missing; add it"
    if text.startswith("turn: "):  # Turn.__post_init__
        return f"{where or 'turns'}: {text.removeprefix('turn: ')}"
    text = text[:1].lower() + text[1:]
    key = where.rsplit(".", 1)[-1]
    if text.startswith("invalid enum value") and key in _CHOICES:
        text += f"; use one of {', '.join(repr(c) for c in _CHOICES[key])}"
    return f"{where or '(top level)'}: {text}"


#: The values of the scenario's keys that take one of a few.
_CHOICES = {"via": ("realtime_input", "client_content"), "no_findings": SEVERITY_NAMES}

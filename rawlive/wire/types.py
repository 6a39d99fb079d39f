"""The Live API's wire objects as msgspec Structs: the types are the schema.

Every client and server message of ``BidiGenerateContent`` (``PROTOCOL.md``
§2-§3) is declared here once, with the official SDK's Python names; a
declaration gives the wire format, validation and the JSON Schema at once,
and there is no hand-written (de)serialiser anywhere in rawlive. No I/O: the
codec (:mod:`rawlive.wire.codec`) turns these objects into bytes and back.
The rules:

1. Keys are lowerCamelCase on the wire (``rename="camel"``), bytes standard
   padded base64, and defaults are omitted.
2. Enums are open: an enum field is a ``str`` annotated with its known values
   (:func:`_known`); the ``StrEnum`` classes compare equal to the strings,
   and an unknown value decodes as a plain string.
3. Durations (``goAway.timeLeft``, offsets) are protobuf Duration strings
   (``"10s"``, ``"1.500s"``) and decode to :class:`Duration`, a
   :class:`datetime.timedelta`.
4. int64 fields take JSON strings or numbers (the codec decodes with
   ``strict=False``) and are sent as numbers.
"""

from __future__ import annotations

import datetime
import enum
import re
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from rawlive.errors import ConfigError

__all__ = [  # noqa: RUF022 - grouped by role, not alphabetically
    # building blocks
    "Base64Bytes",
    "Duration",
    "WireStruct",
    # enums
    "ActivityHandling",
    "AudioTranscriptionConfigMode",
    "Behavior",
    "DocumentMetadataContentLayer",
    "DynamicRetrievalConfigMode",
    "EndSensitivity",
    "FeatureSelectionPreference",
    "FunctionResponseScheduling",
    "HarmBlockMethod",
    "HarmBlockThreshold",
    "HarmCategory",
    "InteractionStatus",
    "Language",
    "MediaModality",
    "MediaResolution",
    "Modality",
    "Outcome",
    "PartMediaResolutionLevel",
    "ServiceTier",
    "SpreadsheetMetadataContentLayer",
    "StartSensitivity",
    "ThinkingLevel",
    "TrafficType",
    "TurnCompleteReason",
    "TurnCoverage",
    "Type",
    "UrlRetrievalStatus",
    "VadSignalType",
    "VideoMetadataContentLayer",
    "VoiceActivityType",
    # content
    "AudioMetadata",
    "Blob",
    "CodeExecutionResult",
    "Content",
    "DocumentMetadata",
    "ExecutableCode",
    "FileData",
    "FunctionCall",
    "FunctionResponse",
    "FunctionResponseBlob",
    "FunctionResponseFileData",
    "FunctionResponsePart",
    "Part",
    "PartMediaResolution",
    "PartialArg",
    "SpreadsheetMetadata",
    "VideoMetadata",
    # setup
    "ActivityEnd",
    "ActivityStart",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "AvatarConfig",
    "ContextWindowCompressionConfig",
    "CustomizedAvatar",
    "GenerationConfig",
    "HistoryConfig",
    "LanguageAuto",
    "LanguageHints",
    "MultiSpeakerVoiceConfig",
    "PrebuiltVoiceConfig",
    "ProactivityConfig",
    "RealtimeInputConfig",
    "ReplicatedVoiceConfig",
    "SafetySetting",
    "SessionResumptionConfig",
    "SlidingWindow",
    "SpeakerVoiceConfig",
    "SpeechConfig",
    "ThinkingConfig",
    "TranslationConfig",
    "VoiceConfig",
    "VoiceConsentSignature",
    # tools
    "AuthConfig",
    "ComputerUse",
    "DynamicRetrievalConfig",
    "EnterpriseWebSearch",
    "FileSearch",
    "FunctionDeclaration",
    "GoogleMaps",
    "GoogleSearch",
    "GoogleSearchRetrieval",
    "Interval",
    "McpServer",
    "Schema",
    "Tool",
    "ToolCodeExecution",
    "UrlContext",
    # client messages
    "LiveClientContent",
    "LiveClientContextUpdate",
    "LiveClientContextUpdateTools",
    "LiveClientMessage",
    "LiveClientRealtimeInput",
    "LiveClientSetup",
    "LiveClientToolResponse",
    # server messages
    "GroundingChunk",
    "GroundingChunkRetrievedContext",
    "GroundingChunkWeb",
    "GroundingMetadata",
    "GroundingSupport",
    "LiveServerContent",
    "LiveServerGoAway",
    "LiveServerMessage",
    "LiveServerSessionResumptionUpdate",
    "LiveServerSetupComplete",
    "LiveServerToolCall",
    "LiveServerToolCallCancellation",
    "ModalityTokenCount",
    "RetrievalMetadata",
    "SearchEntryPoint",
    "Segment",
    "Transcription",
    "UrlContextMetadata",
    "UrlMetadata",
    "UsageMetadata",
    "VoiceActivity",
    "VoiceActivityDetectionSignal",
    "WordInfo",
    # configuration on the caller's side
    "HttpOptions",
    "LiveConnectConfig",
]


class WireStruct(
    msgspec.Struct,
    rename="camel",
    omit_defaults=True,
    kw_only=True,
    repr_omit_defaults=True,
    gc=False,
):
    """Base of every wire object: camelCase keys, unset fields left out.

    ``gc=False``: wire objects form trees, never cycles, so the garbage
    collector need not track them; that makes each one cheaper to create,
    which counts when a 20 ms audio chunk is wrapped in three of them.
    """


# ---------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(-)?(\d+)(?:\.(\d{1,9}))?s$")


class Duration(datetime.timedelta):
    """A ``google.protobuf.Duration``: ``"10s"``/``"1.5s"`` on the wire.

    It is a :class:`datetime.timedelta`, so ``time_left.total_seconds()``
    works; ``str(d)`` gives the wire form. Precision is a microsecond (the
    wire allows nanoseconds; digits beyond the sixth are rounded).
    """

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse a wire Duration string; :class:`~rawlive.ConfigError` (a ValueError) if not one."""
        match = _DURATION_RE.match(text.strip())
        if match is None:
            raise ConfigError(f"not a protobuf Duration (expected like '10s' or '1.5s'): {text!r}")
        sign, whole, frac = match.groups()
        micros = round(int((frac or "0").ljust(9, "0")) / 1000)
        value = cls(seconds=int(whole), microseconds=micros)
        return cls(microseconds=-(value // datetime.timedelta(microseconds=1))) if sign else value

    def to_wire(self) -> str:
        """The proto3 JSON form: 0, 3, 6 or 9 fractional digits, ``s`` suffix."""
        total_us = (self.days * 86_400 + self.seconds) * 1_000_000 + self.microseconds
        sign = "-" if total_us < 0 else ""
        whole, micros = divmod(abs(total_us), 1_000_000)
        if micros == 0:
            return f"{sign}{whole}s"
        if micros % 1000 == 0:
            return f"{sign}{whole}.{micros // 1000:03d}s"
        return f"{sign}{whole}.{micros:06d}s"

    def __str__(self) -> str:
        return self.to_wire()

    def __repr__(self) -> str:
        return f"Duration({self.to_wire()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Duration.parse, (self.to_wire(),))


_DURATION_SCHEMA = msgspec.Meta(
    extra_json_schema={
        "type": "string",
        "pattern": r"^-?\d+(\.\d{1,9})?s$",
        "description": "protobuf Duration: seconds with an 's' suffix, e.g. '10s' or '1.5s'",
    }
)
DurationField = Annotated[Duration, _DURATION_SCHEMA]


# ---------------------------------------------------------------------------
# Bytes
# ---------------------------------------------------------------------------

if TYPE_CHECKING:
    Base64Bytes = bytes
else:

    class _AnyBytes(type):
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, bytes)

    class Base64Bytes(bytes, metaclass=_AnyBytes):
        """Bytes that travel as base64 (audio, video frames, signatures).

        To a type checker, and to any caller, these are plain ``bytes``, and
        decoding yields plain ``bytes``: the class only marks the fields for
        the codec, which decodes them with a SIMD base64 (pybase64), more
        than halving the cost of an audio message against msgspec's own. Any
        ``bytes`` passes ``isinstance(x, Base64Bytes)``, so the decoder can
        hand back the decoded bytes as they are: no copy, and nothing the
        garbage collector must track (a ``bytes`` subclass instance would be,
        and a long session holds many).
        """

        __slots__ = ()


# ---------------------------------------------------------------------------
# Enums (open: fields are strings annotated with the known values)
# ---------------------------------------------------------------------------


def _known(enum_cls: type[enum.Enum]) -> msgspec.Meta:
    """Metadata for an open enum field: any string decodes; these are known."""
    values = [member.value for member in enum_cls]
    return msgspec.Meta(
        description=f"{enum_cls.__name__}; known values: {', '.join(values)}. "
        "Unknown values are kept as strings.",
        extra_json_schema={"examples": values},
        extra={"enum": enum_cls},
    )


class Modality(enum.StrEnum):
    MODALITY_UNSPECIFIED = "MODALITY_UNSPECIFIED"
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"


class MediaModality(enum.StrEnum):
    MODALITY_UNSPECIFIED = "MODALITY_UNSPECIFIED"
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"
    DOCUMENT = "DOCUMENT"


class MediaResolution(enum.StrEnum):
    MEDIA_RESOLUTION_UNSPECIFIED = "MEDIA_RESOLUTION_UNSPECIFIED"
    MEDIA_RESOLUTION_LOW = "MEDIA_RESOLUTION_LOW"
    MEDIA_RESOLUTION_MEDIUM = "MEDIA_RESOLUTION_MEDIUM"
    MEDIA_RESOLUTION_HIGH = "MEDIA_RESOLUTION_HIGH"


class PartMediaResolutionLevel(enum.StrEnum):
    MEDIA_RESOLUTION_UNSPECIFIED = "MEDIA_RESOLUTION_UNSPECIFIED"
    MEDIA_RESOLUTION_LOW = "MEDIA_RESOLUTION_LOW"
    MEDIA_RESOLUTION_MEDIUM = "MEDIA_RESOLUTION_MEDIUM"
    MEDIA_RESOLUTION_HIGH = "MEDIA_RESOLUTION_HIGH"
    MEDIA_RESOLUTION_ULTRA_HIGH = "MEDIA_RESOLUTION_ULTRA_HIGH"


class VideoMetadataContentLayer(enum.StrEnum):
    """What to take from a video part (SDK 3.4.0, ``PROTOCOL.md`` §10.13).

    Default when unset: ``FRAMES`` and ``AUDIO``.
    """

    CONTENT_LAYER_UNSPECIFIED = "CONTENT_LAYER_UNSPECIFIED"
    FRAMES = "FRAMES"
    AUDIO = "AUDIO"
    TRANSCRIPT = "TRANSCRIPT"


class DocumentMetadataContentLayer(enum.StrEnum):
    """What to take from a document part (SDK 3.4.0, ``PROTOCOL.md`` §10.13).

    Default when unset: ``PAGE_IMAGE``.
    """

    CONTENT_LAYER_UNSPECIFIED = "CONTENT_LAYER_UNSPECIFIED"
    PAGE_IMAGE = "PAGE_IMAGE"
    PAGE_TEXT = "PAGE_TEXT"


class SpreadsheetMetadataContentLayer(enum.StrEnum):
    """What to take from a spreadsheet part (SDK 3.4.0, ``PROTOCOL.md`` §10.13).

    Default when unset: ``DATA`` and ``FORMULAS``.
    """

    CONTENT_LAYER_UNSPECIFIED = "CONTENT_LAYER_UNSPECIFIED"
    DATA = "DATA"
    FORMULAS = "FORMULAS"
    VISUAL = "VISUAL"


class ThinkingLevel(enum.StrEnum):
    THINKING_LEVEL_UNSPECIFIED = "THINKING_LEVEL_UNSPECIFIED"
    MINIMAL = "MINIMAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    XHIGH = "XHIGH"


class FeatureSelectionPreference(enum.StrEnum):
    FEATURE_SELECTION_PREFERENCE_UNSPECIFIED = "FEATURE_SELECTION_PREFERENCE_UNSPECIFIED"
    PRIORITIZE_QUALITY = "PRIORITIZE_QUALITY"
    BALANCED = "BALANCED"
    PRIORITIZE_COST = "PRIORITIZE_COST"


class Type(enum.StrEnum):
    """OpenAPI type names used by :class:`Schema` (upper case on the wire)."""

    TYPE_UNSPECIFIED = "TYPE_UNSPECIFIED"
    STRING = "STRING"
    NUMBER = "NUMBER"
    INTEGER = "INTEGER"
    BOOLEAN = "BOOLEAN"
    ARRAY = "ARRAY"
    OBJECT = "OBJECT"
    NULL = "NULL"


class Behavior(enum.StrEnum):
    """Function behaviour: ``NON_BLOCKING`` enables asynchronous calls (2.5 only)."""

    UNSPECIFIED = "UNSPECIFIED"
    BLOCKING = "BLOCKING"
    NON_BLOCKING = "NON_BLOCKING"


class FunctionResponseScheduling(enum.StrEnum):
    SCHEDULING_UNSPECIFIED = "SCHEDULING_UNSPECIFIED"
    SILENT = "SILENT"
    WHEN_IDLE = "WHEN_IDLE"
    INTERRUPT = "INTERRUPT"


class StartSensitivity(enum.StrEnum):
    START_SENSITIVITY_UNSPECIFIED = "START_SENSITIVITY_UNSPECIFIED"
    START_SENSITIVITY_HIGH = "START_SENSITIVITY_HIGH"
    START_SENSITIVITY_LOW = "START_SENSITIVITY_LOW"


class EndSensitivity(enum.StrEnum):
    END_SENSITIVITY_UNSPECIFIED = "END_SENSITIVITY_UNSPECIFIED"
    END_SENSITIVITY_HIGH = "END_SENSITIVITY_HIGH"
    END_SENSITIVITY_LOW = "END_SENSITIVITY_LOW"


class ActivityHandling(enum.StrEnum):
    ACTIVITY_HANDLING_UNSPECIFIED = "ACTIVITY_HANDLING_UNSPECIFIED"
    START_OF_ACTIVITY_INTERRUPTS = "START_OF_ACTIVITY_INTERRUPTS"
    NO_INTERRUPTION = "NO_INTERRUPTION"


class TurnCoverage(enum.StrEnum):
    TURN_COVERAGE_UNSPECIFIED = "TURN_COVERAGE_UNSPECIFIED"
    TURN_INCLUDES_ONLY_ACTIVITY = "TURN_INCLUDES_ONLY_ACTIVITY"
    TURN_INCLUDES_ALL_INPUT = "TURN_INCLUDES_ALL_INPUT"
    TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO = "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"


class AudioTranscriptionConfigMode(enum.StrEnum):
    MODE_UNSPECIFIED = "MODE_UNSPECIFIED"
    VERBATIM = "VERBATIM"
    SMART = "SMART"


class HarmCategory(enum.StrEnum):
    HARM_CATEGORY_UNSPECIFIED = "HARM_CATEGORY_UNSPECIFIED"
    HARM_CATEGORY_HARASSMENT = "HARM_CATEGORY_HARASSMENT"
    HARM_CATEGORY_HATE_SPEECH = "HARM_CATEGORY_HATE_SPEECH"
    HARM_CATEGORY_SEXUALLY_EXPLICIT = "HARM_CATEGORY_SEXUALLY_EXPLICIT"
    HARM_CATEGORY_DANGEROUS_CONTENT = "HARM_CATEGORY_DANGEROUS_CONTENT"
    HARM_CATEGORY_CIVIC_INTEGRITY = "HARM_CATEGORY_CIVIC_INTEGRITY"
    HARM_CATEGORY_JAILBREAK = "HARM_CATEGORY_JAILBREAK"


class HarmBlockMethod(enum.StrEnum):
    HARM_BLOCK_METHOD_UNSPECIFIED = "HARM_BLOCK_METHOD_UNSPECIFIED"
    SEVERITY = "SEVERITY"
    PROBABILITY = "PROBABILITY"


class HarmBlockThreshold(enum.StrEnum):
    HARM_BLOCK_THRESHOLD_UNSPECIFIED = "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
    BLOCK_LOW_AND_ABOVE = "BLOCK_LOW_AND_ABOVE"
    BLOCK_MEDIUM_AND_ABOVE = "BLOCK_MEDIUM_AND_ABOVE"
    BLOCK_ONLY_HIGH = "BLOCK_ONLY_HIGH"
    BLOCK_NONE = "BLOCK_NONE"
    OFF = "OFF"


class DynamicRetrievalConfigMode(enum.StrEnum):
    MODE_UNSPECIFIED = "MODE_UNSPECIFIED"
    MODE_DYNAMIC = "MODE_DYNAMIC"


class Outcome(enum.StrEnum):
    OUTCOME_UNSPECIFIED = "OUTCOME_UNSPECIFIED"
    OUTCOME_OK = "OUTCOME_OK"
    OUTCOME_FAILED = "OUTCOME_FAILED"
    OUTCOME_DEADLINE_EXCEEDED = "OUTCOME_DEADLINE_EXCEEDED"


class Language(enum.StrEnum):
    LANGUAGE_UNSPECIFIED = "LANGUAGE_UNSPECIFIED"
    PYTHON = "PYTHON"


class TurnCompleteReason(enum.StrEnum):
    TURN_COMPLETE_REASON_UNSPECIFIED = "TURN_COMPLETE_REASON_UNSPECIFIED"
    MALFORMED_FUNCTION_CALL = "MALFORMED_FUNCTION_CALL"
    RESPONSE_REJECTED = "RESPONSE_REJECTED"
    NEED_MORE_INPUT = "NEED_MORE_INPUT"
    PROHIBITED_INPUT_CONTENT = "PROHIBITED_INPUT_CONTENT"
    IMAGE_PROHIBITED_INPUT_CONTENT = "IMAGE_PROHIBITED_INPUT_CONTENT"
    INPUT_TEXT_CONTAIN_PROMINENT_PERSON_PROHIBITED = (
        "INPUT_TEXT_CONTAIN_PROMINENT_PERSON_PROHIBITED"
    )
    INPUT_IMAGE_CELEBRITY = "INPUT_IMAGE_CELEBRITY"
    INPUT_IMAGE_PHOTO_REALISTIC_CHILD_PROHIBITED = "INPUT_IMAGE_PHOTO_REALISTIC_CHILD_PROHIBITED"
    INPUT_TEXT_NCII_PROHIBITED = "INPUT_TEXT_NCII_PROHIBITED"
    INPUT_OTHER = "INPUT_OTHER"
    INPUT_IP_PROHIBITED = "INPUT_IP_PROHIBITED"
    BLOCKLIST = "BLOCKLIST"
    UNSAFE_PROMPT_FOR_IMAGE_GENERATION = "UNSAFE_PROMPT_FOR_IMAGE_GENERATION"
    GENERATED_IMAGE_SAFETY = "GENERATED_IMAGE_SAFETY"
    GENERATED_CONTENT_SAFETY = "GENERATED_CONTENT_SAFETY"
    GENERATED_AUDIO_SAFETY = "GENERATED_AUDIO_SAFETY"
    GENERATED_VIDEO_SAFETY = "GENERATED_VIDEO_SAFETY"
    GENERATED_CONTENT_PROHIBITED = "GENERATED_CONTENT_PROHIBITED"
    GENERATED_CONTENT_BLOCKLIST = "GENERATED_CONTENT_BLOCKLIST"
    GENERATED_IMAGE_PROHIBITED = "GENERATED_IMAGE_PROHIBITED"
    GENERATED_IMAGE_CELEBRITY = "GENERATED_IMAGE_CELEBRITY"
    GENERATED_IMAGE_PROMINENT_PEOPLE_DETECTED_BY_REWRITER = (
        "GENERATED_IMAGE_PROMINENT_PEOPLE_DETECTED_BY_REWRITER"
    )
    GENERATED_IMAGE_IDENTIFIABLE_PEOPLE = "GENERATED_IMAGE_IDENTIFIABLE_PEOPLE"
    GENERATED_IMAGE_MINORS = "GENERATED_IMAGE_MINORS"
    OUTPUT_IMAGE_IP_PROHIBITED = "OUTPUT_IMAGE_IP_PROHIBITED"
    GENERATED_OTHER = "GENERATED_OTHER"
    MAX_REGENERATION_REACHED = "MAX_REGENERATION_REACHED"


class InteractionStatus(enum.StrEnum):
    INTERACTION_STATUS_UNSPECIFIED = "INTERACTION_STATUS_UNSPECIFIED"
    IN_PROGRESS = "IN_PROGRESS"
    REQUIRES_ACTION = "REQUIRES_ACTION"
    IDLE = "IDLE"


class UrlRetrievalStatus(enum.StrEnum):
    URL_RETRIEVAL_STATUS_UNSPECIFIED = "URL_RETRIEVAL_STATUS_UNSPECIFIED"
    URL_RETRIEVAL_STATUS_SUCCESS = "URL_RETRIEVAL_STATUS_SUCCESS"
    URL_RETRIEVAL_STATUS_ERROR = "URL_RETRIEVAL_STATUS_ERROR"
    URL_RETRIEVAL_STATUS_PAYWALL = "URL_RETRIEVAL_STATUS_PAYWALL"
    URL_RETRIEVAL_STATUS_UNSAFE = "URL_RETRIEVAL_STATUS_UNSAFE"


class TrafficType(enum.StrEnum):
    TRAFFIC_TYPE_UNSPECIFIED = "TRAFFIC_TYPE_UNSPECIFIED"
    ON_DEMAND = "ON_DEMAND"
    ON_DEMAND_PRIORITY = "ON_DEMAND_PRIORITY"
    ON_DEMAND_FLEX = "ON_DEMAND_FLEX"
    ON_DEMAND_OFFPEAK = "ON_DEMAND_OFFPEAK"
    PROVISIONED_THROUGHPUT = "PROVISIONED_THROUGHPUT"


class ServiceTier(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    FLEX = "flex"
    STANDARD = "standard"
    PRIORITY = "priority"


class VadSignalType(enum.StrEnum):
    VAD_SIGNAL_TYPE_UNSPECIFIED = "VAD_SIGNAL_TYPE_UNSPECIFIED"
    VAD_SIGNAL_TYPE_SOS = "VAD_SIGNAL_TYPE_SOS"
    VAD_SIGNAL_TYPE_EOS = "VAD_SIGNAL_TYPE_EOS"


class VoiceActivityType(enum.StrEnum):
    TYPE_UNSPECIFIED = "TYPE_UNSPECIFIED"
    ACTIVITY_START = "ACTIVITY_START"
    ACTIVITY_END = "ACTIVITY_END"


ModalityName = Annotated[str, _known(Modality)]
MediaModalityName = Annotated[str, _known(MediaModality)]
MediaResolutionName = Annotated[str, _known(MediaResolution)]
PartMediaResolutionLevelName = Annotated[str, _known(PartMediaResolutionLevel)]
VideoContentLayerName = Annotated[str, _known(VideoMetadataContentLayer)]
DocumentContentLayerName = Annotated[str, _known(DocumentMetadataContentLayer)]
SpreadsheetContentLayerName = Annotated[str, _known(SpreadsheetMetadataContentLayer)]
ThinkingLevelName = Annotated[str, _known(ThinkingLevel)]
FeatureSelectionPreferenceName = Annotated[str, _known(FeatureSelectionPreference)]
TypeName = Annotated[str, _known(Type)]
BehaviorName = Annotated[str, _known(Behavior)]
SchedulingName = Annotated[str, _known(FunctionResponseScheduling)]
StartSensitivityName = Annotated[str, _known(StartSensitivity)]
EndSensitivityName = Annotated[str, _known(EndSensitivity)]
ActivityHandlingName = Annotated[str, _known(ActivityHandling)]
TurnCoverageName = Annotated[str, _known(TurnCoverage)]
TranscriptionModeName = Annotated[str, _known(AudioTranscriptionConfigMode)]
HarmCategoryName = Annotated[str, _known(HarmCategory)]
HarmBlockMethodName = Annotated[str, _known(HarmBlockMethod)]
HarmBlockThresholdName = Annotated[str, _known(HarmBlockThreshold)]
DynamicRetrievalModeName = Annotated[str, _known(DynamicRetrievalConfigMode)]
OutcomeName = Annotated[str, _known(Outcome)]
LanguageName = Annotated[str, _known(Language)]
TurnCompleteReasonName = Annotated[str, _known(TurnCompleteReason)]
InteractionStatusName = Annotated[str, _known(InteractionStatus)]
UrlRetrievalStatusName = Annotated[str, _known(UrlRetrievalStatus)]
TrafficTypeName = Annotated[str, _known(TrafficType)]
ServiceTierName = Annotated[str, _known(ServiceTier)]
VadSignalTypeName = Annotated[str, _known(VadSignalType)]
VoiceActivityTypeName = Annotated[str, _known(VoiceActivityType)]

# A JSON object whose keys are the caller's own data (function arguments,
# tool responses, JSON Schemas, labels): never renamed, never checked.
UserData = dict[str, Any]


# ---------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------


class Blob(WireStruct):
    """Inline bytes with a MIME type: audio chunks, video frames, images."""

    data: Base64Bytes | None = None
    mime_type: str | None = None
    display_name: str | None = None


class FileData(WireStruct):
    """A reference to a file by URI."""

    file_uri: str | None = None
    mime_type: str | None = None
    display_name: str | None = None


class VideoMetadata(WireStruct):
    """Clipping and frame rate of a video part; ``content_layers`` from SDK 3.4.0.

    ``PROTOCOL.md`` §10.13.
    """

    start_offset: DurationField | None = None
    end_offset: DurationField | None = None
    fps: float | None = None
    content_layers: list[VideoContentLayerName] | None = None


class DocumentMetadata(WireStruct):
    """Pages of a document part to use, 1-based and inclusive (SDK 3.4.0).

    ``PROTOCOL.md`` §10.13; set beside ``inline_data`` or ``file_data``.
    """

    start_page: int | None = None
    end_page: int | None = None
    content_layers: list[DocumentContentLayerName] | None = None


class SpreadsheetMetadata(WireStruct):
    """Cells (A1 notation, ``"A1:D10"``) and sheet (1-based) of a spreadsheet part.

    SDK 3.4.0, ``PROTOCOL.md`` §10.13; set beside ``inline_data`` or ``file_data``.
    """

    visible_cells: str | None = None
    sheet_index: int | None = None
    content_layers: list[SpreadsheetContentLayerName] | None = None


class AudioMetadata(WireStruct):
    """The stretch of an audio part to use, as offsets from its start (SDK 3.4.0).

    ``PROTOCOL.md`` §10.13; set beside ``inline_data`` or ``file_data``.
    """

    start_offset: DurationField | None = None
    end_offset: DurationField | None = None


class PartMediaResolution(WireStruct):
    level: PartMediaResolutionLevelName | None = None
    num_tokens: int | None = None


class ExecutableCode(WireStruct):
    """Code the model wrote for the code-execution tool."""

    code: str | None = None
    language: LanguageName | None = None
    id: str | None = None


class CodeExecutionResult(WireStruct):
    outcome: OutcomeName | None = None
    output: str | None = None
    id: str | None = None


class PartialArg(WireStruct):
    """A streamed piece of function-call arguments (Vertex only)."""

    json_path: str | None = None
    string_value: str | None = None
    number_value: float | None = None
    bool_value: bool | None = None
    null_value: str | None = None
    will_continue: bool | None = None


class FunctionCall(WireStruct):
    """One function the model asks the client to run (``toolCall.functionCalls[]``)."""

    id: str | None = None
    name: str | None = None
    args: UserData | None = None
    partial_args: list[PartialArg] | None = None
    will_continue: bool | None = None


class FunctionResponseBlob(WireStruct):
    data: Base64Bytes | None = None
    mime_type: str | None = None
    display_name: str | None = None


class FunctionResponseFileData(WireStruct):
    file_uri: str | None = None
    mime_type: str | None = None
    display_name: str | None = None


class FunctionResponsePart(WireStruct):
    """A multimodal piece of a function response.

    The fields after ``file_data`` came with SDK 3.4.0 (``PROTOCOL.md``
    §10.13) and describe the media in ``inline_data`` or ``file_data``.
    """

    inline_data: FunctionResponseBlob | None = None
    file_data: FunctionResponseFileData | None = None
    media_resolution: PartMediaResolution | None = None
    video_metadata: VideoMetadata | None = None
    document_metadata: DocumentMetadata | None = None
    spreadsheet_metadata: SpreadsheetMetadata | None = None
    audio_metadata: AudioMetadata | None = None


class FunctionResponse(WireStruct):
    """The client's answer to one :class:`FunctionCall`.

    ``id`` is required on the Gemini API. ``response`` conventionally holds an
    ``"output"`` or an ``"error"`` key. ``scheduling`` and ``will_continue``
    apply to ``NON_BLOCKING`` functions only.
    """

    id: str | None = None
    name: str | None = None
    response: UserData | None = None
    parts: list[FunctionResponsePart] | None = None
    scheduling: SchedulingName | None = None
    will_continue: bool | None = None


class Part(WireStruct):
    """One piece of a :class:`Content`: text, inline bytes, code, a call...

    A ``serverContent.modelTurn`` may hold several parts per message (audio
    and text together on Gemini 3.1): read them all. The last three
    metadata fields came with SDK 3.4.0 (``PROTOCOL.md`` §10.13).
    """

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    thought: bool | None = None
    thought_signature: Base64Bytes | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    executable_code: ExecutableCode | None = None
    code_execution_result: CodeExecutionResult | None = None
    video_metadata: VideoMetadata | None = None
    media_resolution: PartMediaResolution | None = None
    part_metadata: UserData | None = None
    document_metadata: DocumentMetadata | None = None
    spreadsheet_metadata: SpreadsheetMetadata | None = None
    audio_metadata: AudioMetadata | None = None


class Content(WireStruct):
    """A turn: a role (``"user"`` or ``"model"``) and its parts."""

    parts: list[Part] | None = None
    role: str | None = None


# ---------------------------------------------------------------------------
# Setup: generation, speech, transcription, activity detection, resumption
# ---------------------------------------------------------------------------


class PrebuiltVoiceConfig(WireStruct):
    voice_name: str | None = None


class VoiceConsentSignature(WireStruct):
    signature: str | None = None


class ReplicatedVoiceConfig(WireStruct):
    mime_type: str | None = None
    voice_sample_audio: Base64Bytes | None = None
    consent_audio: Base64Bytes | None = None
    voice_consent_signature: VoiceConsentSignature | None = None


class VoiceConfig(WireStruct):
    prebuilt_voice_config: PrebuiltVoiceConfig | None = None
    replicated_voice_config: ReplicatedVoiceConfig | None = None
    voice: str | None = None


class SpeakerVoiceConfig(WireStruct):
    speaker: str | None = None
    voice_config: VoiceConfig | None = None


class MultiSpeakerVoiceConfig(WireStruct):
    """Exists in the type tree; the SDK refuses it for Live and so does rawlive."""

    speaker_voice_configs: list[SpeakerVoiceConfig] | None = None


class SpeechConfig(WireStruct):
    """Voice and language of the spoken reply."""

    voice_config: VoiceConfig | None = None
    language_code: str | None = None
    multi_speaker_voice_config: MultiSpeakerVoiceConfig | None = None


class ThinkingConfig(WireStruct):
    """``thinking_budget`` on 2.5 models, ``thinking_level`` on 3.1."""

    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: ThinkingLevelName | None = None


class TranslationConfig(WireStruct):
    target_language_code: str | None = None
    echo_target_language: bool | None = None


class ModelSelectionConfig(WireStruct):
    feature_selection_preference: FeatureSelectionPreferenceName | None = None


class LanguageAuto(WireStruct):
    """Deprecated: automatic language detection (the default)."""


class LanguageHints(WireStruct):
    """Deprecated: use ``AudioTranscriptionConfig.language_codes``."""

    language_codes: list[str] | None = None


class AudioTranscriptionConfig(WireStruct):
    """Turns transcription on by its presence (``{}``); the fields refine it."""

    language_codes: list[str] | None = None
    custom_vocabulary: list[str] | None = None
    word_timestamp: bool | None = None
    diarization: bool | None = None
    mode: TranscriptionModeName | None = None
    source_text: str | None = None
    language_auto: LanguageAuto | None = None
    language_hints: LanguageHints | None = None
    adaptation_phrases: list[str] | None = None


class Schema(WireStruct):
    """The OpenAPI subset used for function parameters (types upper case)."""

    type: TypeName | None = None
    format: str | None = None
    title: str | None = None
    description: str | None = None
    nullable: bool | None = None
    enum: list[str] | None = None
    items: Schema | None = None
    max_items: int | None = None
    min_items: int | None = None
    properties: dict[str, Schema] | None = None
    property_ordering: list[str] | None = None
    required: list[str] | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    example: Any = None
    any_of: list[Schema] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    additional_properties: Any = None
    ref: str | None = msgspec.field(default=None, name="$ref")
    defs: dict[str, Schema] | None = msgspec.field(default=None, name="$defs")


class GenerationConfig(WireStruct):
    """``setup.generationConfig``.

    The Live API ignores or rejects ``response_logprobs``,
    ``response_mime_type``, ``logprobs``, ``response_schema``,
    ``response_json_schema``, ``stop_sequences``, ``routing_config`` and
    ``audio_timestamp`` (``PROTOCOL.md`` §2.1.1); they are declared so that
    they round-trip and the auditor can name them.
    """

    response_modalities: list[ModalityName] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    media_resolution: MediaResolutionName | None = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    enable_affective_dialog: bool | None = None
    translation_config: TranslationConfig | None = None
    audio_transcription_config: AudioTranscriptionConfig | None = None
    enable_enhanced_civic_answers: bool | None = None
    model_selection_config: ModelSelectionConfig | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    response_mime_type: str | None = None
    response_schema: Schema | None = None
    response_json_schema: Any = None
    stop_sequences: list[str] | None = None
    routing_config: UserData | None = None
    audio_timestamp: bool | None = None


class AutomaticActivityDetection(WireStruct):
    """Server-side voice activity detection; ``disabled=True`` for manual VAD."""

    disabled: bool | None = None
    start_of_speech_sensitivity: StartSensitivityName | None = None
    end_of_speech_sensitivity: EndSensitivityName | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None


class RealtimeInputConfig(WireStruct):
    automatic_activity_detection: AutomaticActivityDetection | None = None
    activity_handling: ActivityHandlingName | None = None
    turn_coverage: TurnCoverageName | None = None
    interim_transcript_timestamp_enabled: bool | None = None


class SessionResumptionConfig(WireStruct):
    """Present (even empty) asks for ``sessionResumptionUpdate`` handles.

    ``handle`` resumes an earlier session; ``transparent`` (Vertex) adds
    ``lastConsumedClientMessageIndex`` to the updates.
    """

    handle: str | None = None
    transparent: bool | None = None


class SlidingWindow(WireStruct):
    target_tokens: int | None = None


class ContextWindowCompressionConfig(WireStruct):
    """Sliding-window compression; what lifts the 15 / 2 minute session limits."""

    trigger_tokens: int | None = None
    sliding_window: SlidingWindow | None = None


class ProactivityConfig(WireStruct):
    proactive_audio: bool | None = None
    proactive_video: bool | None = None


class HistoryConfig(WireStruct):
    """On 3.1: seed history with ``clientContent`` before the conversation."""

    initial_history_in_client_content: bool | None = None


class CustomizedAvatar(WireStruct):
    image_mime_type: str | None = None
    image_data: Base64Bytes | None = None


class AvatarConfig(WireStruct):
    avatar_name: str | None = None
    customized_avatar: CustomizedAvatar | None = None
    audio_bitrate_bps: int | None = None
    video_bitrate_bps: int | None = None


class SafetySetting(WireStruct):
    category: HarmCategoryName | None = None
    threshold: HarmBlockThresholdName | None = None
    method: HarmBlockMethodName | None = None


# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------


class FunctionDeclaration(WireStruct):
    """A function the model may call.

    ``parameters`` (OpenAPI subset) and ``parameters_json_schema`` (plain JSON
    Schema) are mutually exclusive.
    """

    name: str | None = None
    description: str | None = None
    parameters: Schema | None = None
    parameters_json_schema: Any = None
    response: Schema | None = None
    response_json_schema: Any = None
    behavior: BehaviorName | None = None


class Interval(WireStruct):
    start_time: datetime.datetime | None = None
    end_time: datetime.datetime | None = None


class GoogleSearch(WireStruct):
    """Grounding with Google Search: ``{}`` on the wire in most uses."""

    time_range_filter: Interval | None = None
    exclude_domains: list[str] | None = None
    search_types: UserData | None = None
    blocking_confidence: str | None = None


class ToolCodeExecution(WireStruct):
    """The code-execution tool: ``{}``."""


class UrlContext(WireStruct):
    """The URL-context tool: ``{}``."""


class AuthConfig(WireStruct):
    api_key_config: UserData | None = None
    auth_type: str | None = None
    google_service_account_config: UserData | None = None
    http_basic_auth_config: UserData | None = None
    oauth_config: UserData | None = None
    oidc_config: UserData | None = None


class GoogleMaps(WireStruct):
    auth_config: AuthConfig | None = None
    enable_widget: bool | None = None


class DynamicRetrievalConfig(WireStruct):
    mode: DynamicRetrievalModeName | None = None
    dynamic_threshold: float | None = None


class GoogleSearchRetrieval(WireStruct):
    dynamic_retrieval_config: DynamicRetrievalConfig | None = None


class FileSearch(WireStruct):
    file_search_store_names: list[str] | None = None
    top_k: int | None = None
    metadata_filter: str | None = None


class ComputerUse(WireStruct):
    environment: str | None = None
    excluded_predefined_functions: list[str] | None = None


class EnterpriseWebSearch(WireStruct):
    exclude_domains: list[str] | None = None


class McpServer(WireStruct):
    name: str | None = None
    streamable_http_transport: UserData | None = None


class Tool(WireStruct):
    """One entry of ``setup.tools``: set exactly one of the fields."""

    function_declarations: list[FunctionDeclaration] | None = None
    google_search: GoogleSearch | None = None
    code_execution: ToolCodeExecution | None = None
    url_context: UrlContext | None = None
    google_maps: GoogleMaps | None = None
    google_search_retrieval: GoogleSearchRetrieval | None = None
    file_search: FileSearch | None = None
    computer_use: ComputerUse | None = None
    enterprise_web_search: EnterpriseWebSearch | None = None
    mcp_servers: list[McpServer] | None = None
    retrieval: UserData | None = None


# ---------------------------------------------------------------------------
# Client messages
# ---------------------------------------------------------------------------


class LiveClientSetup(WireStruct):
    """``setup``: the first and only-first client message. ``model`` is required."""

    model: str | None = None
    generation_config: GenerationConfig | None = None
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompressionConfig | None = None
    input_audio_transcription: AudioTranscriptionConfig | None = None
    output_audio_transcription: AudioTranscriptionConfig | None = None
    proactivity: ProactivityConfig | None = None
    explicit_vad_signal: bool | None = None
    history_config: HistoryConfig | None = None
    avatar_config: AvatarConfig | None = None
    safety_settings: list[SafetySetting] | None = None
    labels: dict[str, str] | None = None


class LiveClientContent(WireStruct):
    """``clientContent``: turns appended to history; interrupts generation.

    On Gemini 3.1 only for seeding history (``HistoryConfig``).
    """

    turns: list[Content] | None = None
    turn_complete: bool | None = None


class ActivityStart(WireStruct):
    """Manual VAD: the user started speaking (``{}``)."""


class ActivityEnd(WireStruct):
    """Manual VAD: the user stopped speaking (``{}``)."""


class LiveClientRealtimeInput(WireStruct):
    """``realtimeInput``: one of audio, video, text or an activity signal.

    ``media_chunks`` is deprecated (only its first element is honoured).
    """

    audio: Blob | None = None
    video: Blob | None = None
    text: str | None = None
    activity_start: ActivityStart | None = None
    activity_end: ActivityEnd | None = None
    audio_stream_end: bool | None = None
    media_chunks: list[Blob] | None = None


class LiveClientToolResponse(WireStruct):
    """``toolResponse``: answers to ``toolCall.functionCalls`` by id."""

    function_responses: list[FunctionResponse] | None = None


class LiveClientContextUpdateTools(WireStruct):
    """The wrapper that lets ``{"tools": []}`` clear every tool."""

    tools: list[Tool] | None = None


class LiveClientContextUpdate(WireStruct):
    """``contextUpdate`` (SDK 3.3.0): new system instruction and/or tools."""

    system_instruction: Content | None = None
    tools: LiveClientContextUpdateTools | None = None


class LiveClientMessage(WireStruct):
    """The client envelope: exactly one field is set per message."""

    setup: LiveClientSetup | None = None
    client_content: LiveClientContent | None = None
    realtime_input: LiveClientRealtimeInput | None = None
    tool_response: LiveClientToolResponse | None = None
    context_update: LiveClientContextUpdate | None = None


# ---------------------------------------------------------------------------
# Server messages
# ---------------------------------------------------------------------------


class LiveServerSetupComplete(WireStruct):
    """``setupComplete``: ``{}`` on the Gemini API; Vertex adds ``sessionId``."""

    session_id: str | None = None
    voice_consent_signature: VoiceConsentSignature | None = None


class WordInfo(WireStruct):
    word: str | None = None
    start_offset: DurationField | None = None
    end_offset: DurationField | None = None


class Transcription(WireStruct):
    """A transcript fragment; ``finished`` marks the last one (optional)."""

    text: str | None = None
    finished: bool | None = None
    language_code: str | None = None
    speaker_label: str | None = None
    words: list[WordInfo] | None = None
    start_offset: DurationField | None = None
    end_offset: DurationField | None = None


class GroundingChunkWeb(WireStruct):
    uri: str | None = None
    title: str | None = None
    domain: str | None = None


class GroundingChunkRetrievedContext(WireStruct):
    uri: str | None = None
    title: str | None = None
    text: str | None = None
    document_name: str | None = None


class GroundingChunk(WireStruct):
    web: GroundingChunkWeb | None = None
    retrieved_context: GroundingChunkRetrievedContext | None = None
    image: UserData | None = None
    maps: UserData | None = None


class Segment(WireStruct):
    start_index: int | None = None
    end_index: int | None = None
    part_index: int | None = None
    text: str | None = None


class GroundingSupport(WireStruct):
    segment: Segment | None = None
    grounding_chunk_indices: list[int] | None = None
    confidence_scores: list[float] | None = None
    rendered_parts: list[int] | None = None


class RetrievalMetadata(WireStruct):
    google_search_dynamic_retrieval_score: float | None = None


class SearchEntryPoint(WireStruct):
    rendered_content: str | None = None
    sdk_blob: Base64Bytes | None = None


class GroundingMetadata(WireStruct):
    """Search grounding of a turn (Vertex sends ``{}`` beside ``turnComplete``)."""

    web_search_queries: list[str] | None = None
    image_search_queries: list[str] | None = None
    search_entry_point: SearchEntryPoint | None = None
    grounding_chunks: list[GroundingChunk] | None = None
    grounding_supports: list[GroundingSupport] | None = None
    retrieval_metadata: RetrievalMetadata | None = None
    retrieval_queries: list[str] | None = None
    google_maps_widget_context_token: str | None = None
    source_flagging_uris: list[UserData] | None = None


class UrlMetadata(WireStruct):
    retrieved_url: str | None = None
    url_retrieval_status: UrlRetrievalStatusName | None = None


class UrlContextMetadata(WireStruct):
    url_metadata: list[UrlMetadata] | None = None


class LiveServerContent(WireStruct):
    """``serverContent``: model output, transcripts and turn signals.

    An interrupted turn goes ``interrupted`` then ``turnComplete`` with no
    ``generationComplete``. Transcriptions have no guaranteed order relative
    to the model's audio.
    """

    model_turn: Content | None = None
    turn_complete: bool | None = None
    interrupted: bool | None = None
    generation_complete: bool | None = None
    grounding_metadata: GroundingMetadata | None = None
    input_transcription: Transcription | None = None
    output_transcription: Transcription | None = None
    interim_input_transcription: Transcription | None = None
    url_context_metadata: UrlContextMetadata | None = None
    turn_complete_reason: TurnCompleteReasonName | None = None
    waiting_for_input: bool | None = None
    interaction_status: InteractionStatusName | None = None


class LiveServerToolCall(WireStruct):
    """``toolCall``: answer each call with a ``toolResponse`` carrying its id."""

    function_calls: list[FunctionCall] | None = None


class LiveServerToolCallCancellation(WireStruct):
    """``toolCallCancellation``: these call ids should not have been run."""

    ids: list[str] | None = None


class LiveServerGoAway(WireStruct):
    """``goAway``: the connection ends in ``time_left``; resume before then."""

    time_left: DurationField | None = None


class LiveServerSessionResumptionUpdate(WireStruct):
    """``sessionResumptionUpdate``: keep ``new_handle`` when ``resumable``."""

    new_handle: str | None = None
    resumable: bool | None = None
    last_consumed_client_message_index: int | None = None


class ModalityTokenCount(WireStruct):
    modality: MediaModalityName | None = None
    token_count: int | None = None


class UsageMetadata(WireStruct):
    """Token usage; Vertex names the response counts ``candidates*``."""

    prompt_token_count: int | None = None
    cached_content_token_count: int | None = None
    response_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    thoughts_token_count: int | None = None
    total_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    cache_tokens_details: list[ModalityTokenCount] | None = None
    response_tokens_details: list[ModalityTokenCount] | None = None
    tool_use_prompt_tokens_details: list[ModalityTokenCount] | None = None
    candidates_token_count: int | None = None
    candidates_tokens_details: list[ModalityTokenCount] | None = None
    traffic_type: TrafficTypeName | None = None
    service_tier: ServiceTierName | None = None

    @property
    def response_tokens(self) -> int | None:
        """Response tokens under either name (Gemini API or Vertex)."""
        if self.response_token_count is not None:
            return self.response_token_count
        return self.candidates_token_count


class VoiceActivityDetectionSignal(WireStruct):
    vad_signal_type: VadSignalTypeName | None = None


class VoiceActivity(WireStruct):
    """Voice activity events; the wire key of the type is ``type``."""

    voice_activity_type: VoiceActivityTypeName | None = msgspec.field(default=None, name="type")
    audio_offset: DurationField | None = None


class LiveServerMessage(WireStruct):
    """One server message. Several fields may be set at once.

    ``usage_metadata`` in particular rides along with ``server_content``;
    handle every field, not the first one found.
    """

    setup_complete: LiveServerSetupComplete | None = None
    server_content: LiveServerContent | None = None
    tool_call: LiveServerToolCall | None = None
    tool_call_cancellation: LiveServerToolCallCancellation | None = None
    go_away: LiveServerGoAway | None = None
    session_resumption_update: LiveServerSessionResumptionUpdate | None = None
    usage_metadata: UsageMetadata | None = None
    voice_activity_detection_signal: VoiceActivityDetectionSignal | None = None
    voice_activity: VoiceActivity | None = None

    @property
    def text(self) -> str | None:
        """The model turn's text parts joined, thoughts left out (as the SDK)."""
        content = self.server_content
        if content is None or content.model_turn is None or not content.model_turn.parts:
            return None
        text = "".join(
            part.text for part in content.model_turn.parts if part.text and not part.thought
        )
        return text or None

    @property
    def data(self) -> bytes | None:
        """The model turn's inline data joined (the reply audio), as the SDK."""
        content = self.server_content
        if content is None or content.model_turn is None or not content.model_turn.parts:
            return None
        data = b"".join(
            part.inline_data.data
            for part in content.model_turn.parts
            if part.inline_data is not None and part.inline_data.data
        )
        return data or None


# ---------------------------------------------------------------------------
# The caller's side: connection configuration in the SDK's shape
# ---------------------------------------------------------------------------


class HttpOptions(WireStruct):
    """Where and how to connect, as the SDK's ``HttpOptions``.

    Only what a WebSocket connection uses: ``base_url`` (``http://`` maps to
    ``ws://``, ``https://`` to ``wss://``), ``api_version`` and extra
    ``headers``.
    """

    base_url: str | None = None
    api_version: str | None = None
    headers: dict[str, str] | None = None
    timeout: int | None = None


class LiveConnectConfig(WireStruct):
    """The SDK's ``LiveConnectConfig``: what ``connect(config=...)`` accepts.

    Not a wire object: ``rawlive.wire.messages.build_setup`` maps it onto ``setup``
    exactly as the SDK does (sampling fields move into ``generationConfig``,
    a string system instruction becomes a user :class:`Content`, function
    declarations merge into one :class:`Tool`). A plain dict with snake_case
    or camelCase keys is accepted wherever this is.

    ``system_instruction`` takes a :class:`Content`, a string, a
    :class:`Part` or a list of strings and parts; ``tools`` takes
    :class:`Tool` objects and plain Python functions.
    """

    http_options: HttpOptions | None = None
    generation_config: GenerationConfig | None = None
    response_modalities: list[ModalityName] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    max_output_tokens: int | None = None
    media_resolution: MediaResolutionName | None = None
    seed: int | None = None
    speech_config: SpeechConfig | str | None = None
    thinking_config: ThinkingConfig | None = None
    enable_affective_dialog: bool | None = None
    system_instruction: Content | str | list[Any] | None = None
    tools: list[Any] | None = None
    session_resumption: SessionResumptionConfig | None = None
    input_audio_transcription: AudioTranscriptionConfig | None = None
    output_audio_transcription: AudioTranscriptionConfig | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    context_window_compression: ContextWindowCompressionConfig | None = None
    proactivity: ProactivityConfig | None = None
    explicit_vad_signal: bool | None = None
    history_config: HistoryConfig | None = None
    avatar_config: AvatarConfig | None = None
    safety_settings: list[SafetySetting] | None = None
    translation_config: TranslationConfig | None = None
    labels: dict[str, str] | None = None

"""The 2026 wire fields (PROTOCOL.md §10, google-genai 3.4.0-3.6.1) as frames.

Each frame below is one PROTOCOL.md §10 quotes, or one built from §10.13's
field table where §10 quotes none. Every one must decode with nothing left
over (no unknown key or enum value, no spelling forgiven), expose its fields
under snake_case names, validate against the committed JSON Schema and
encode back to the same bytes as the frame in compact JSON.

Two frames do not come back in the spelling quoted, and the test spells out
the bytes they do come back as: the §10.8 setup (rawlive writes a Struct's
keys in declaration order, so ``inputAudioTranscription``'s keys change
places) and the §10.8 ``voiceActivity`` (``"4.1s"`` is written the proto3
JSON way, ``"4.100s"``, the same Duration).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from rawlive.tools import schema
from rawlive.wire import codec
from rawlive.wire import types as t

ROOT = Path(__file__).resolve().parent.parent


def compact(frame: str) -> bytes:
    """The frame as compact JSON, keys in the order written."""
    return json.dumps(json.loads(frame), separators=(",", ":"), ensure_ascii=False).encode()


# --- PROTOCOL.md §10.6: interactionStatus next to turnComplete -----------------

INTERACTION_IN_PROGRESS = (
    '{"serverContent": {"turnComplete": true, "interactionStatus": "IN_PROGRESS"}}'
)
INTERACTION_IDLE = '{"serverContent": {"turnComplete": true, "interactionStatus": "IDLE"}}'
# §10.6's ET sequence: the IN_PROGRESS turnComplete carries usageMetadata
# (the figures are §10.11's 3.8 measurement).
INTERACTION_WITH_USAGE = """
{"serverContent": {"turnComplete": true, "interactionStatus": "IN_PROGRESS"},
 "usageMetadata": {"promptTokenCount": 522, "responseTokenCount": 42,
   "thoughtsTokenCount": 136, "totalTokenCount": 564,
   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 332},
                           {"modality": "AUDIO", "tokenCount": 165}],
   "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}]}}
"""
# §10.6's ET sequence: the client's answer, to be spoken once the model is idle.
TOOL_RESPONSE_WHEN_IDLE = """
{"toolResponse": {"functionResponses": [{"id": "fc_1", "name": "search_flights",
  "response": {"output": {"flights": 3}}, "scheduling": "WHEN_IDLE"}]}}
"""

# --- PROTOCOL.md §10.8: Transcribe Live ----------------------------------------

TRANSCRIBE_SETUP = """
{"setup": {
  "model": "models/gemini-3.5-transcribe-live",
  "generationConfig": {"responseModalities": ["TEXT"]},
  "realtimeInputConfig": {"automaticActivityDetection": {"disabled": true}},
  "inputAudioTranscription": {
    "mode": "SMART",
    "customVocabulary": ["Zorblex", "quaxil"],
    "languageCodes": ["en-US"]}}}
"""
TRANSCRIBE_SETUP_AS_SENT = (
    b'{"setup":{"model":"models/gemini-3.5-transcribe-live",'
    b'"generationConfig":{"responseModalities":["TEXT"]},'
    b'"realtimeInputConfig":{"automaticActivityDetection":{"disabled":true}},'
    b'"inputAudioTranscription":{"languageCodes":["en-US"],'
    b'"customVocabulary":["Zorblex","quaxil"],"mode":"SMART"}}}'
)
PROBE_INTERIM = '{"serverContent": {"interimInputTranscription": {"text": "zorblex the"}}}'
PROBE_FINAL = '{"serverContent": {"inputTranscription": {"text": "Zorblex the quaxil."}}}'
PROBE_GENERATION_COMPLETE = '{"serverContent": {"generationComplete": true}}'
PROBE_VOICE_ACTIVITY = (
    '{"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_END", "audioOffset": "4.1s"}}'
)
PROBE_VOICE_ACTIVITY_AS_SENT = (
    b'{"serverContent":{},"voiceActivity":{"type":"ACTIVITY_END","audioOffset":"4.100s"}}'
)
# §10.8: the final carries the recognised language [3P LiveKit].
FINAL_WITH_LANGUAGE = (
    '{"serverContent": {"inputTranscription": '
    '{"text": "Zorblex the quaxil.", "languageCode": "en-US"}}}'
)

# --- PROTOCOL.md §10.9: translation --------------------------------------------

TRANSLATE_SETUP = """
{"setup": {
  "model": "models/gemini-3.5-live-translate-preview",
  "generationConfig": {
    "responseModalities": ["AUDIO"],
    "translationConfig": {"targetLanguageCode": "pl", "echoTargetLanguage": true}},
  "inputAudioTranscription": {},
  "outputAudioTranscription": {}}}
"""

# --- PROTOCOL.md §10.10: avatarConfig (Vertex) ----------------------------------

AVATAR_PREBUILT_SETUP = """
{"setup": {
  "model": "projects/p/locations/us-central1/publishers/google/models/gemini-3.8-live",
  "generationConfig": {"responseModalities": ["VIDEO"],
    "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}},
  "avatarConfig": {"avatarName": "Kira"}}}
"""
AVATAR_CUSTOM_SETUP = """
{"setup": {
  "model": "projects/p/locations/us-central1/publishers/google/models/gemini-3.8-live",
  "generationConfig": {"responseModalities": ["VIDEO"]},
  "avatarConfig": {"customizedAvatar": {"imageMimeType": "image/png", "imageData": "iVBORw0KGgo="},
    "audioBitrateBps": 64000, "videoBitrateBps": 2000000}}}
"""
# §10.10: fragmented MP4 in inlineData (the mimeType is §10.10's inference).
AVATAR_VIDEO_PART = """
{"serverContent": {"modelTurn": {"parts": [
  {"inlineData": {"data": "AAAAGGZ0eXBpc281", "mimeType": "video/mp4"}}], "role": "model"}}}
"""

# --- PROTOCOL.md §10.13: the setup fields of the table, on 3.8 ET ----------------

EXTENDED_THINKING_SETUP = """
{"setup": {
  "model": "models/gemini-3.8-live-extended-thinking",
  "generationConfig": {"responseModalities": ["AUDIO"], "mediaResolution": "MEDIA_RESOLUTION_LOW",
    "thinkingConfig": {"thinkingLevel": "HIGH"}},
  "tools": [{"functionDeclarations": [{"name": "search_flights", "behavior": "NON_BLOCKING"}]}],
  "realtimeInputConfig": {"turnCoverage": "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    "interimTranscriptTimestampEnabled": true},
  "inputAudioTranscription": {"customVocabulary": ["Zorblex"], "sourceText": "Zorblex"},
  "outputAudioTranscription": {},
  "proactivity": {"proactiveAudio": true, "proactiveVideo": false},
  "historyConfig": {"initialHistoryInClientContent": true}}}
"""

# --- PROTOCOL.md §10.4: clientContent on 3.8, every turn with a role -------------

CLIENT_CONTENT_ROLES = """
{"clientContent": {"turns": [{"parts": [{"text": "Booked for Monday."}], "role": "model"},
  {"parts": [{"text": "Make it Tuesday."}], "role": "user"}], "turnComplete": false}}
"""

# --- PROTOCOL.md §10.13: SDK 3.4.0's part metadata ------------------------------

PART_METADATA = """
{"clientContent": {"turns": [{"parts": [
  {"inlineData": {"data": "JVBERi0xLjc=", "mimeType": "application/pdf"},
   "documentMetadata": {"startPage": 2, "endPage": 5,
     "contentLayers": ["PAGE_TEXT", "PAGE_IMAGE"]}},
  {"fileData": {"fileUri": "gs://b/sheet.xlsx", "mimeType": "application/vnd.ms-excel"},
   "spreadsheetMetadata": {"visibleCells": "A1:D10", "sheetIndex": 2,
     "contentLayers": ["DATA", "FORMULAS", "VISUAL"]}},
  {"fileData": {"fileUri": "gs://b/call.wav", "mimeType": "audio/wav"},
   "audioMetadata": {"startOffset": "1.500s", "endOffset": "90s"}},
  {"fileData": {"fileUri": "gs://b/clip.mp4", "mimeType": "video/mp4"},
   "videoMetadata": {"startOffset": "2s", "fps": 1.0, "contentLayers": ["FRAMES", "TRANSCRIPT"]}},
  {"text": "Summarise these."}], "role": "user"}], "turnComplete": true}}
"""
TOOL_RESPONSE_PARTS = """
{"toolResponse": {"functionResponses": [{"id": "fc_2", "name": "fetch_media",
  "response": {"output": "attached"},
  "parts": [
    {"inlineData": {"data": "AAAAGGZ0eXBpc281", "mimeType": "video/mp4"},
     "mediaResolution": {"level": "MEDIA_RESOLUTION_ULTRA_HIGH", "numTokens": 1120},
     "videoMetadata": {"startOffset": "2s", "endOffset": "7.250s", "fps": 2.0,
       "contentLayers": ["FRAMES", "AUDIO"]}},
    {"fileData": {"fileUri": "gs://b/report.pdf", "mimeType": "application/pdf"},
     "documentMetadata": {"startPage": 1, "endPage": 1}},
    {"fileData": {"fileUri": "gs://b/sheet.xlsx", "mimeType": "application/vnd.ms-excel"},
     "spreadsheetMetadata": {"visibleCells": "B2:C3"}},
    {"inlineData": {"data": "UklGRg==", "mimeType": "audio/wav"},
     "audioMetadata": {"endOffset": "0.250s"}}],
  "scheduling": "INTERRUPT", "willContinue": true}]}}
"""

# (name, direction, frame as written, bytes expected back or None for compact(frame))
FRAMES: list[tuple[str, str, str, bytes | None]] = [
    ("10.6 in progress", "server", INTERACTION_IN_PROGRESS, None),
    ("10.6 idle", "server", INTERACTION_IDLE, None),
    ("10.6 with usage", "server", INTERACTION_WITH_USAGE, None),
    ("10.6 tool response", "client", TOOL_RESPONSE_WHEN_IDLE, None),
    ("10.8 setup", "client", TRANSCRIBE_SETUP, TRANSCRIBE_SETUP_AS_SENT),
    ("10.8 interim", "server", PROBE_INTERIM, None),
    ("10.8 final", "server", PROBE_FINAL, None),
    ("10.8 generation complete", "server", PROBE_GENERATION_COMPLETE, None),
    ("10.8 voice activity", "server", PROBE_VOICE_ACTIVITY, PROBE_VOICE_ACTIVITY_AS_SENT),
    ("10.8 final with language", "server", FINAL_WITH_LANGUAGE, None),
    ("10.9 setup", "client", TRANSLATE_SETUP, None),
    ("10.10 prebuilt avatar", "client", AVATAR_PREBUILT_SETUP, None),
    ("10.10 custom avatar", "client", AVATAR_CUSTOM_SETUP, None),
    ("10.10 video part", "server", AVATAR_VIDEO_PART, None),
    ("10.13 ET setup", "client", EXTENDED_THINKING_SETUP, None),
    ("10.4 roles", "client", CLIENT_CONTENT_ROLES, None),
    ("10.13 part metadata", "client", PART_METADATA, None),
    ("10.13 tool response parts", "client", TOOL_RESPONSE_PARTS, None),
]
IDS = [name for name, *_ in FRAMES]


def _encode(message: t.LiveServerMessage | t.LiveClientMessage) -> bytes:
    if isinstance(message, t.LiveServerMessage):
        return codec.encode_server_message(message)
    return codec.encode_client_message(message)


@pytest.mark.parametrize(("name", "direction", "frame", "expected"), FRAMES, ids=IDS)
def test_frame_decodes_strictly_and_encodes_back_to_the_same_bytes(
    name: str, direction: str, frame: str, expected: bytes | None
) -> None:
    message, report = codec.inspect_frame(frame, direction=direction)
    assert report.unknown_paths() == []
    assert report.snake_case_keys == report.urlsafe_base64 == report.unpadded_base64 == []
    assert _encode(message) == (expected if expected is not None else compact(frame))
    # and the decoders of the fast path agree with the strict walk
    decode = codec.decode_server_message if direction == "server" else codec.decode_client_message
    assert decode(frame.encode()) == message


@pytest.mark.parametrize(("name", "direction", "frame", "expected"), FRAMES, ids=IDS)
def test_frame_validates_against_the_committed_schema(
    name: str, direction: str, frame: str, expected: bytes | None
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    file = "server-messages.schema.json" if direction == "server" else "client-messages.schema.json"
    document = json.loads((ROOT / "schemas" / file).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(document).validate(json.loads(frame))


def _server(frame: str) -> t.LiveServerMessage:
    return codec.decode_server_message(frame)


def _client(frame: str) -> t.LiveClientMessage:
    return codec.decode_client_message(frame)


def test_interaction_status_is_a_field_of_server_content() -> None:
    in_progress = _server(INTERACTION_WITH_USAGE)
    assert in_progress.server_content == t.LiveServerContent(
        turn_complete=True, interaction_status=t.InteractionStatus.IN_PROGRESS
    )
    usage = in_progress.usage_metadata
    assert usage is not None and usage.thoughts_token_count == 136
    assert usage.prompt_tokens_details == [
        t.ModalityTokenCount(modality="TEXT", token_count=332),
        t.ModalityTokenCount(modality="AUDIO", token_count=165),
    ]
    idle = _server(INTERACTION_IDLE).server_content
    assert idle is not None and idle.interaction_status == "IDLE"


def test_transcribe_setup_and_probe_frames_expose_their_fields() -> None:
    setup = _client(TRANSCRIBE_SETUP).setup
    assert setup is not None and setup.input_audio_transcription is not None
    assert setup.input_audio_transcription == t.AudioTranscriptionConfig(
        mode=t.AudioTranscriptionConfigMode.SMART,
        custom_vocabulary=["Zorblex", "quaxil"],
        language_codes=["en-US"],
    )
    assert setup.realtime_input_config == t.RealtimeInputConfig(
        automatic_activity_detection=t.AutomaticActivityDetection(disabled=True)
    )
    interim = _server(PROBE_INTERIM).server_content
    assert interim is not None and interim.interim_input_transcription == t.Transcription(
        text="zorblex the"
    )
    final = _server(FINAL_WITH_LANGUAGE).server_content
    assert final is not None and final.input_transcription is not None
    assert final.input_transcription.language_code == "en-US"
    activity = _server(PROBE_VOICE_ACTIVITY)
    assert activity.server_content == t.LiveServerContent()
    assert activity.voice_activity is not None
    assert activity.voice_activity.voice_activity_type == t.VoiceActivityType.ACTIVITY_END
    assert activity.voice_activity.audio_offset == datetime.timedelta(seconds=4.1)


def test_translation_config_sits_in_generation_config() -> None:
    setup = _client(TRANSLATE_SETUP).setup
    assert setup is not None and setup.generation_config is not None
    assert setup.generation_config.translation_config == t.TranslationConfig(
        target_language_code="pl", echo_target_language=True
    )
    assert setup.input_audio_transcription == setup.output_audio_transcription
    assert setup.input_audio_transcription == t.AudioTranscriptionConfig()


def test_avatar_config_sits_at_setup_level() -> None:
    prebuilt = _client(AVATAR_PREBUILT_SETUP).setup
    assert prebuilt is not None and prebuilt.avatar_config == t.AvatarConfig(avatar_name="Kira")
    custom = _client(AVATAR_CUSTOM_SETUP).setup
    assert custom is not None and custom.avatar_config == t.AvatarConfig(
        customized_avatar=t.CustomizedAvatar(
            image_mime_type="image/png", image_data=b"\x89PNG\r\n\x1a\n"
        ),
        audio_bitrate_bps=64000,
        video_bitrate_bps=2000000,
    )
    video = _server(AVATAR_VIDEO_PART)
    assert video.data is not None and video.data[4:8] == b"ftyp"


def test_extended_thinking_setup_fields() -> None:
    setup = _client(EXTENDED_THINKING_SETUP).setup
    assert setup is not None and setup.generation_config is not None
    assert setup.generation_config.thinking_config == t.ThinkingConfig(
        thinking_level=t.ThinkingLevel.HIGH
    )
    assert setup.generation_config.media_resolution == "MEDIA_RESOLUTION_LOW"
    assert setup.realtime_input_config == t.RealtimeInputConfig(
        turn_coverage=t.TurnCoverage.TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO,
        interim_transcript_timestamp_enabled=True,
    )
    assert setup.proactivity == t.ProactivityConfig(proactive_audio=True, proactive_video=False)
    assert setup.history_config == t.HistoryConfig(initial_history_in_client_content=True)
    assert setup.input_audio_transcription == t.AudioTranscriptionConfig(
        custom_vocabulary=["Zorblex"], source_text="Zorblex"
    )
    assert setup.tools == [
        t.Tool(
            function_declarations=[
                t.FunctionDeclaration(name="search_flights", behavior=t.Behavior.NON_BLOCKING)
            ]
        )
    ]


def test_client_content_roles_and_an_explicit_false_turn_complete() -> None:
    content = _client(CLIENT_CONTENT_ROLES).client_content
    assert content is not None and content.turn_complete is False
    assert [turn.role for turn in content.turns or []] == ["model", "user"]


def test_part_metadata_of_sdk_3_4_0() -> None:
    content = _client(PART_METADATA).client_content
    assert content is not None and content.turns is not None
    document, sheet, audio, video, _text = content.turns[0].parts or []
    assert document.inline_data == t.Blob(data=b"%PDF-1.7", mime_type="application/pdf")
    assert document.document_metadata == t.DocumentMetadata(
        start_page=2,
        end_page=5,
        content_layers=[
            t.DocumentMetadataContentLayer.PAGE_TEXT,
            t.DocumentMetadataContentLayer.PAGE_IMAGE,
        ],
    )
    assert sheet.spreadsheet_metadata == t.SpreadsheetMetadata(
        visible_cells="A1:D10", sheet_index=2, content_layers=["DATA", "FORMULAS", "VISUAL"]
    )
    assert audio.audio_metadata == t.AudioMetadata(
        start_offset=t.Duration(seconds=1.5), end_offset=t.Duration(seconds=90)
    )
    assert video.video_metadata == t.VideoMetadata(
        start_offset=t.Duration(seconds=2),
        fps=1.0,
        content_layers=[
            t.VideoMetadataContentLayer.FRAMES,
            t.VideoMetadataContentLayer.TRANSCRIPT,
        ],
    )


def test_function_response_parts_and_scheduling() -> None:
    tool_response = _client(TOOL_RESPONSE_PARTS).tool_response
    assert tool_response is not None and tool_response.function_responses is not None
    (response,) = tool_response.function_responses
    assert response.scheduling == t.FunctionResponseScheduling.INTERRUPT
    assert response.will_continue is True
    video, document, sheet, audio = response.parts or []
    assert video.media_resolution == t.PartMediaResolution(
        level=t.PartMediaResolutionLevel.MEDIA_RESOLUTION_ULTRA_HIGH, num_tokens=1120
    )
    assert video.video_metadata is not None
    assert video.video_metadata.end_offset == datetime.timedelta(seconds=7.25)
    assert video.video_metadata.content_layers == ["FRAMES", "AUDIO"]
    assert document.document_metadata == t.DocumentMetadata(start_page=1, end_page=1)
    assert sheet.spreadsheet_metadata == t.SpreadsheetMetadata(visible_cells="B2:C3")
    assert audio.audio_metadata == t.AudioMetadata(end_offset=t.Duration(seconds=0.25))
    idle = _client(TOOL_RESPONSE_WHEN_IDLE).tool_response
    assert idle is not None and idle.function_responses is not None
    assert idle.function_responses[0].scheduling == "WHEN_IDLE"


@pytest.mark.parametrize(
    ("frame", "unknown"),
    [
        # PROTOCOL.md §10.5/§10.16: the 3.8 page's "INTERRUPTED" is not the enum's value.
        (
            '{"toolResponse":{"functionResponses":[{"id":"fc_1","scheduling":"INTERRUPTED"}]}}',
            "toolResponse.functionResponses[].scheduling=INTERRUPTED",
        ),
        (
            '{"clientContent":{"turns":[{"parts":[{"documentMetadata":'
            '{"contentLayers":["PAGE_OCR"]}}]}]}}',
            "clientContent.turns[].parts[].documentMetadata.contentLayers[]=PAGE_OCR",
        ),
    ],
)
def test_an_unknown_enum_value_is_kept_and_reported(frame: str, unknown: str) -> None:
    message, report = codec.inspect_frame(frame, direction="client")
    assert report.unknown_paths() == [unknown]
    assert codec.encode_client_message(message) == frame.encode()


def test_the_schema_refuses_metadata_of_the_wrong_type() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(schema.schemas()["client-messages.schema.json"])
    validator = jsonschema.Draft202012Validator(document)

    def part(metadata: dict[str, Any]) -> dict[str, Any]:
        return {"clientContent": {"turns": [{"parts": [metadata]}]}}

    assert validator.is_valid(part({"documentMetadata": {"startPage": 1}}))
    assert not validator.is_valid(part({"documentMetadata": {"startPage": "one"}}))
    assert not validator.is_valid(part({"spreadsheetMetadata": {"contentLayers": "DATA"}}))
    assert not validator.is_valid(part({"audioMetadata": {"startOffset": "1.5 seconds"}}))

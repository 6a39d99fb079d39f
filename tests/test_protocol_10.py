"""PROTOCOL.md §10 traced to tests: each §10.2 cell and each §10.15 step, against the emulator.

Issue 15's "Done when": every row of §10.2 and every step of §10.15 has a
test against the emulator over a socket, on both backends where §10 says
they differ. The table below names those tests (``module::test``);
:func:`test_every_traced_test_exists` reads every name out of this
docstring and fails when one is renamed or removed, so the table cannot rot
silently. Tests that fit no other module live here.

Modules: ``em`` tests/test_emulator.py, ``mo`` test_emulator_models.py,
``tr`` test_emulator_transcribe.py, ``be`` test_emulator_backends.py,
``sc`` test_emulator_script.py, ``p10`` this module. G = the Gemini API
path, V = Vertex AI's. "n/a": the cell is "?" or "—" in §10.2, or the
model does not take the feature; "not emulated": see the end.

§10.2 gemini-3.8-live (G) and its Vertex deltas (V)
---------------------------------------------------
Input modalities (text, image, audio, video):
    mo::test_38_takes_text_image_audio_and_video_input
responseModalities AUDIO only, TEXT 1007 (G+V):
    mo::test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason
    mo::test_what_38_takes_is_accepted
    mo::test_a_38_session_answers_an_audio_turn
V: VIDEO + avatarConfig = the avatar; AUDIO+VIDEO, VIDEO without avatarConfig, VIDEO on G 1007:
    be::test_a_vertex_avatar_streams_the_reply_as_fragmented_mp4
    be::test_the_client_asks_for_and_receives_the_avatar_over_vertex
    be::test_an_avatar_setup_the_server_fails_on_closes
Function calling: NON_BLOCKING by default, BLOCKING allowed and cancelled by new input:
    mo::test_38_takes_speech_while_a_non_blocking_call_runs_and_answers_after_the_result
    mo::test_new_input_cancels_an_unanswered_blocking_call_on_38
    mo::test_what_38_takes_is_accepted
Other tools (Search taken; code execution, URL context, Maps, file search 1007; G+V),
thinking not configurable (thinkingConfig 1007; G+V), proactive audio always on (false 1007,
true taken; G+V), affective dialog removed (1007; G+V):
    mo::test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason
    mo::test_what_38_takes_is_accepted
    mo::test_what_38_takes_on_vertex_is_accepted
clientContent any time, roles user/model, turnComplete interrupts, else appended:
    mo::test_a_38_client_content_turn_without_user_or_model_role_closes_1007
    mo::test_38_client_content_appends_without_turn_complete_and_answers_with_it
    mo::test_38_client_content_with_turn_complete_interrupts_the_reply
Transcription input + output; V customVocabulary:
    sc::test_a_scripted_turn_sends_transcriptions_audio_and_token_counts
    sc::test_transcriptions_are_sent_only_when_the_setup_asked
    mo::test_what_38_takes_on_vertex_is_accepted
Default turnCoverage TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO:
    mo::test_the_video_a_turn_holds_follows_its_turn_coverage
V mediaResolution LOW/MEDIUM/HIGH, prebuilt voices:
    mo::test_what_38_takes_on_vertex_is_accepted
Token limits: not emulated.
Session / connection length (~10 min, goAway ahead; one report of 58:00 + 1011):
    em::test_connection_lifetime_sends_go_away_ahead_then_ends_the_connection
    em::test_the_deadline_lifetime_close_ends_a_38_connection_with_1011
V concurrent sessions (1,000 per project; a cap of choice here):
    be::test_a_session_beyond_the_quota_is_closed_1011_after_the_upgrade
    be::test_a_session_beyond_the_quota_gets_http_429_in_the_http_style

§10.2 gemini-3.8-live-extended-thinking (G only)
------------------------------------------------
Served on G, 1008 on V:
    be::test_a_model_is_served_on_its_own_backend
    be::test_a_model_the_backend_does_not_serve_closes_1008_in_its_words
Input modalities: mo::test_38_takes_text_image_audio_and_video_input
responseModalities AUDIO (TEXT, VIDEO 1007); async calls only (BLOCKING 1007); Search taken,
code execution 1007; thinkingLevel LOW/MEDIUM/HIGH taken, MINIMAL and thinkingBudget 1007;
proactive audio and affective dialog as 3.8 (INF):
    mo::test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason
    mo::test_what_38_takes_is_accepted
Fillers and interactionStatus:
    mo::test_extended_thinking_speaks_a_filler_then_answers_at_idle
    mo::test_extended_thinking_stays_in_progress_while_a_call_is_open
    mo::test_a_script_gives_extended_thinking_its_filler
Default turnCoverage (INF as 3.8): mo::test_the_video_a_turn_holds_follows_its_turn_coverage
clientContent, transcription (INF as 3.8): the row shares 3.8's rules; tokens, session: "?".

§10.2 gemini-3.5-transcribe-live (G+V) and -preview (V only)
------------------------------------------------------------
Ids and backends:
    be::test_a_model_is_served_on_its_own_backend
    be::test_a_model_the_backend_does_not_serve_closes_1008_in_its_words
Audio only: tr::test_input_other_than_audio_closes_with_1007
responseModalities TEXT required: tr::test_transcribe_live_needs_the_text_modality
No tools, no thinking (INF): tr::test_transcribe_live_refuses_tools_and_thinking_with_1007
Transcription (interims, one final, generationComplete, voiceActivity, no modelTurn):
    tr::test_an_utterance_gives_growing_interims_one_final_then_generation_complete
    tr::test_smart_mode_drops_simple_disfluencies
    tr::test_audio_stream_end_flushes_the_final_without_trailing_silence
    tr::test_manual_activity_silence_gets_only_the_end_echo_and_speech_a_final
Session length 10 minutes:
    tr::test_the_session_limit_sends_go_away_then_closes_with_deadline_expired
    tr::test_the_models_own_limit_is_the_default

§10.2 gemini-3.5-live-translate-preview (G+V)
---------------------------------------------
Ids: be::test_a_model_is_served_on_its_own_backend
Audio only: tr::test_input_other_than_audio_closes_with_1007
translationConfig required; no tools, system instruction or thinking (INF):
    tr::test_translation_refuses_these_setups_with_1007
Input = source, output = translation; turnComplete per utterance; no interactionStatus:
    tr::test_each_utterance_is_translated_and_closed_by_its_own_turn_complete
    tr::test_speech_in_the_target_language_is_repeated_only_with_echo
    tr::test_new_speech_does_not_interrupt_a_translation_they_queue
responseModalities AUDIO, usage, generationComplete on G and V:
    p10::test_each_new_model_ends_a_reply_as_10_6_says_with_only_the_3_7_usage_fields

§10.2 gemini-3.1-flash-live-preview (the reference column; kept as it was)
--------------------------------------------------------------------------
G only: be::test_a_model_is_served_on_its_own_backend
clientContent after the history (1007, strict only):
    mo::test_31_client_content_after_the_history_is_closed_only_in_strict_mode

§10.15 checklist
----------------
1. The ids, models/ and Vertex resource forms (express mode too); unknown ids 1008:
    be::test_a_model_is_served_on_its_own_backend
    be::test_a_model_the_backend_does_not_serve_closes_1008_in_its_words
    em::test_invalid_input_closes_with_the_real_code_and_reason
    em::test_known_models_are_accepted_in_every_spelling
2. 3.8's refusals, proactiveAudio true, missing behavior = NON_BLOCKING, default turnCoverage:
    mo::test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason
    mo::test_what_38_takes_is_accepted
    mo::test_38_takes_speech_while_a_non_blocking_call_runs_and_answers_after_the_result
    mo::test_the_video_a_turn_holds_follows_its_turn_coverage
3. ET: thinkingLevel, BLOCKING refused, interactionStatus on every turnComplete, the filler:
    mo::test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason
    mo::test_extended_thinking_speaks_a_filler_then_answers_at_idle
    mo::test_extended_thinking_stays_in_progress_while_a_call_is_open
4. Plain 3.8: no interactionStatus, waits for the result:
    mo::test_38_takes_speech_while_a_non_blocking_call_runs_and_answers_after_the_result
    mo::test_a_38_session_answers_an_audio_turn
5. clientContent on 3.8:
    mo::test_a_38_client_content_turn_without_user_or_model_role_closes_1007
    mo::test_38_client_content_appends_without_turn_complete_and_answers_with_it
    mo::test_38_client_content_with_turn_complete_interrupts_the_reply
6. BLOCKING call cancelled by new input; INTERRUPT held until activity end; scheduling:
    mo::test_new_input_cancels_an_unanswered_blocking_call_on_38
    mo::test_interrupt_scheduling_waits_for_the_user_to_finish_on_a_polite_row
    mo::test_a_result_arriving_while_the_model_speaks_follows_its_scheduling
    mo::test_silent_scheduling_adds_the_result_and_says_nothing
    mo::test_scheduling_is_ignored_for_a_blocking_call
7. generationComplete alone, then turnComplete + usageMetadata (new models, G and V):
    mo::test_a_38_session_answers_an_audio_turn
    p10::test_each_new_model_ends_a_reply_as_10_6_says_with_only_the_3_7_usage_fields
8. Transcribe Live: TEXT required, audio only, interims, final, generationComplete, no
   modelTurn/turnComplete, voiceActivity, flush on audioStreamEnd/activityEnd, 10 minutes:
    tr::test_transcribe_live_needs_the_text_modality
    tr::test_input_other_than_audio_closes_with_1007
    tr::test_an_utterance_gives_growing_interims_one_final_then_generation_complete
    tr::test_audio_stream_end_flushes_the_final_without_trailing_silence
    tr::test_manual_activity_silence_gets_only_the_end_echo_and_speech_a_final
    tr::test_the_session_limit_sends_go_away_then_closes_with_deadline_expired
9. Translate: translationConfig required, no tools/systemInstruction, audio + both
   transcriptions, turnComplete per utterance:
    tr::test_translation_refuses_these_setups_with_1007
    tr::test_each_utterance_is_translated_and_closed_by_its_own_turn_complete
10. Avatar (V only): the 1007/1011 closes, fMP4 parts, no sessionResumptionUpdate:
    be::test_a_vertex_avatar_streams_the_reply_as_fragmented_mp4
    be::test_an_avatar_setup_the_server_fails_on_closes
    be::test_an_image_through_media_chunks_in_avatar_mode_closes_1007
    be::test_a_vertex_session_without_avatar_keeps_text_frames_and_handles
11. Usage keeps §3.7's fields, never textCount/imageCount/audioDurationSeconds:
    p10::test_each_new_model_ends_a_reply_as_10_6_says_with_only_the_3_7_usage_fields
    be::test_the_vertex_path_answers_in_the_vertex_shape
12. Connection lifetime configurable: goAway ahead, or 1011 "Deadline expired":
    em::test_connection_lifetime_sends_go_away_ahead_then_ends_the_connection
    em::test_the_deadline_lifetime_close_ends_a_38_connection_with_1011
    em::test_an_unknown_lifetime_close_is_refused_in_one_line

Not emulated, and why
---------------------
- Token limits / context exhaustion (131,072 in): no close is quoted (§10.14: 3P-CODE only).
- Output transcription sent unrequested on 3.8 (one forum report, §10.11): not modelled.
- Avatar 1008 safety refusal after setupComplete: nothing in a setup says an image is unsafe.
- 3.1 refusing NON_BLOCKING / ``scheduling`` (3P): the reference column's behaviour is kept.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import re
from typing import Any

import pytest
import websockets

from rawlive.media import audio
from rawlive.servers.emulator import Emulator

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
VERTEX_MODEL = "projects/p/locations/us-central1/publishers/google/models/{}"

_MODULES = {
    "em": "test_emulator",
    "mo": "test_emulator_models",
    "tr": "test_emulator_transcribe",
    "be": "test_emulator_backends",
    "sc": "test_emulator_script",
    "p10": "test_protocol_10",
}
_TRACED = re.compile(r"\b(em|mo|tr|be|sc|p10)::(test_\w+)")


def _traced() -> list[str]:
    """Every ``module::test`` the docstring's table names."""
    return sorted({f"{m}::{n}" for m, n in _TRACED.findall(__doc__ or "")})


def test_the_table_names_tests_for_every_step() -> None:
    assert len(_traced()) >= 50
    steps = (__doc__ or "").split("§10.15 checklist")[1]
    for step in range(1, 13):
        assert re.search(rf"^{step}\. ", steps, re.MULTILINE), f"§10.15.{step} missing"


@pytest.mark.parametrize("traced", _traced())
def test_every_traced_test_exists(traced: str) -> None:
    prefix, name = traced.split("::")
    module = importlib.import_module(_MODULES[prefix])
    assert callable(getattr(module, name, None)), f"{traced} is in the §10 table but not a test"


#: Every usage key §3.7 gives, per backend (Vertex: generateContent's names, §9).
USAGE_37 = {
    "promptTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
    "promptTokensDetails",
    "cacheTokensDetails",
    "toolUsePromptTokensDetails",
}
USAGE_BY_BACKEND = {
    "gemini": USAGE_37 | {"responseTokenCount", "responseTokensDetails", "serviceTier"},
    "vertex": USAGE_37 | {"candidatesTokenCount", "candidatesTokensDetails", "trafficType"},
}
_NEVER = {"textCount", "imageCount", "audioDurationSeconds", "videoDurationSeconds"}

_TRANSLATION = {"translationConfig": {"targetLanguageCode": "pl"}}


@pytest.mark.parametrize(
    ("path", "model", "generation"),
    [
        (GEMINI_PATH, "models/gemini-3.8-live", {}),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.8-live"), {}),
        (GEMINI_PATH, "models/gemini-3.8-live-extended-thinking", {}),
        (GEMINI_PATH, "models/gemini-3.5-live-translate-preview", _TRANSLATION),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.5-live-translate-preview"), _TRANSLATION),
    ],
    ids=["3.8-gemini", "3.8-vertex", "et-gemini", "translate-gemini", "translate-vertex"],
)
async def test_each_new_model_ends_a_reply_as_10_6_says_with_only_the_3_7_usage_fields(
    path: str, model: str, generation: dict[str, Any]
) -> None:
    """§10.15.7: ``generationComplete`` in its own message, then ``turnComplete`` with
    ``usageMetadata``; §10.15.11: usage keys of §3.7 only, never the cached-content counts."""
    setup = {
        "model": model,
        "generationConfig": {"responseModalities": ["AUDIO"], **generation},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
    }
    pcm = audio.tone(600, rate=16_000)
    received: list[dict[str, Any]] = []
    async with Emulator(speed=0) as emulator:
        async with websockets.connect(emulator.url + path) as ws:
            await ws.send(json.dumps({"setup": setup}))
            for offset in range(0, len(pcm), 640):
                chunk = pcm[offset : offset + 640]
                await ws.send(
                    json.dumps(
                        {
                            "realtimeInput": {
                                "audio": {
                                    "data": base64.b64encode(chunk).decode(),
                                    "mimeType": "audio/pcm;rate=16000",
                                }
                            }
                        }
                    )
                )
            await ws.send(json.dumps({"realtimeInput": {"audioStreamEnd": True}}))
            while not received or not received[-1].get("serverContent", {}).get("turnComplete"):
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    *_, before, last = received
    assert before == {"serverContent": {"generationComplete": True}}
    assert last["serverContent"]["turnComplete"] is True
    usage = last["usageMetadata"]
    backend = "vertex" if path == VERTEX_PATH else "gemini"
    assert set(usage) <= USAGE_BY_BACKEND[backend], set(usage) - USAGE_BY_BACKEND[backend]
    everywhere = [m["usageMetadata"] for m in received if "usageMetadata" in m]
    assert everywhere == [usage]  # usage rides on the turnComplete only
    assert not _NEVER & set(usage)
    assert usage["totalTokenCount"] > 0

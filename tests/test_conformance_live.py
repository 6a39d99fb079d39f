"""rawlive on a real socket puts on the wire what google-genai 3.3.0 puts there.

Two halves, both against a local :class:`~rawlive.servers.base.CaptureServer`:

1. Each client vector's own Python (``sdk_call.python``) runs unchanged with
   ``genai.Client`` replaced by :class:`rawlive.Client` and ``types`` by
   :mod:`rawlive.wire.types`. The frames the server received must equal the
   vector's ``frames`` canonically (``tests/canonical.py``), the upgrade path
   its ``url_path`` and the ``x-goog-api-key`` header its ``auth``. A call
   the SDK refused must raise a :class:`rawlive.ConfigError` and send
   nothing. Vectors using the SDK's deprecated ``session.send()`` or
   ``session.start_stream()`` are skipped: rawlive does not implement them
   (the issue does not ask for them).
2. The real SDK and rawlive run the same session over TLS (a trustme CA)
   against one server, on the Gemini API and on Vertex AI, and their frames,
   paths and auth headers must agree. These tests skip without google-genai.

Deliberate differences, pinned by targeted assertions instead of faked
equality (the first two as in ``tests/test_conformance_client.py``):

* ``send_tool_response_nonfinite_floats``: rawlive raises ``ConfigError`` for
  NaN/infinity in a tool ``response``; the SDK sends invalid JSON.
* ``send_tool_response_bytes_value``: bytes in a tool ``response`` go out as
  standard base64 from rawlive, URL-safe from the SDK (same bytes).
* API version: without an explicit ``api_version`` the SDK dials ``v1``,
  rawlive ``v1beta`` (``v1alpha`` for an ephemeral token, since
  ``BidiGenerateContentConstrained`` does not exist on ``v1``). With an
  explicit version the paths must be equal.
* Ephemeral tokens (``auth_tokens/...``): the SDK sends the token in the
  ``x-goog-api-key`` and ``Authorization: Token`` headers; rawlive sends it as
  the ``access_token`` query parameter, as the raw WebSocket docs describe,
  and sends neither header.
* ``url_base_url_trailing_slash``: the SDK joins a base URL ending in ``/``
  and its path into ``//ws/...``; rawlive treats a bare ``/`` as no path and
  dials the documented single-slash path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import re
import textwrap
import types as pytypes
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import rawlive
from rawlive import ConfigError
from rawlive.servers.base import CapturedConnection, CaptureServer, server_ssl_context
from tests.canonical import assert_canonically_equal
from tests.test_conformance_client import (
    BYTES_IN_USER_DATA_CASE,
    CASES,
    NONFINITE_CASE,
    align_bytes_in_user_data,
    load,
)

TIMEOUT = 10.0
TRAILING_SLASH_CASE = "url_base_url_trailing_slash"
DEPRECATED_CALL = re.compile(r"\bsession\.(send|start_stream)\(")
TOKEN_PREFIX = "auth_tokens/"
# Upgrade headers every client sends (or the SDK's own): not about the session.
GENERIC_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "content-type",
        "user-agent",
        "x-goog-api-client",
    }
)
AUTH_HEADERS = frozenset({"x-goog-api-key", "authorization"})


def frames_of(capture: CapturedConnection) -> list[Any]:
    """Every client frame the server received, parsed; all must be text frames."""
    frames = capture.client_frames()
    assert [f.opcode for f in frames] == ["text"] * len(frames)
    return [json.loads(f.payload) for f in frames]


async def closed(server: CaptureServer, index: int) -> CapturedConnection:
    """Connection ``index`` once the server has seen it close."""
    await server.wait_for_connections(index + 1)
    capture = server.connections[index]
    await asyncio.wait_for(capture.closed.wait(), TIMEOUT)
    return capture


def assert_frames_equal(expected: list[Any], actual: list[Any], what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} frames, expected {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
        assert_canonically_equal(e, a, what=f"{what} frame {i}")


# ---------------------------------------------------------------------------
# Part 1: each vector's own Python, with genai replaced by rawlive
# ---------------------------------------------------------------------------

RAWLIVE_AS_GENAI = pytypes.SimpleNamespace(Client=rawlive.Client, types=rawlive.wire.types)


def vector_function(lines: list[str], port: int) -> Callable[..., Awaitable[None]]:
    """The vector's Python as ``async def run(genai, types, expect_call)``.

    Line 0 makes the client, line 1 is the ``async with ... connect(...)``
    and each further line is one session call; call ``i`` runs inside
    ``with expect_call(i):`` so a call the SDK refused can be checked where
    it happens while the session stays open.
    """
    client_line, connect_line, *calls = lines
    body = [client_line, connect_line]
    for i, call in enumerate(calls):
        assert call.startswith("    await session."), call
        body += [f"    with expect_call({i}):", "    " + call]
    if not calls:
        body.append("    pass")
    header = "async def run(genai, types, expect_call):\n"
    source = header + textwrap.indent("\n".join(body), "    ")
    namespace: dict[str, Any] = {}
    exec(compile(source.replace("<PORT>", str(port)), "<sdk_call.python>", "exec"), namespace)
    run: Callable[..., Awaitable[None]] = namespace["run"]
    return run


def mentions(value: Any, key: str) -> bool:
    """Whether ``key`` appears anywhere in the vector's call data."""
    if isinstance(value, dict):
        return key in value or any(mentions(v, key) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, key) for v in value)
    return False


def expected_path(vector: dict[str, Any], token: bool) -> str:
    """The vector's path, with the SDK's default API version replaced by rawlive's."""
    path: str = vector["url_path"]
    if vector["case"] == TRAILING_SLASH_CASE:
        assert path.startswith("//ws/"), path  # the SDK doubles the slash...
        path = path[1:]  # ...rawlive does not
    sdk_call = vector["sdk_call"]
    if mentions(sdk_call["client"], "api_version") or mentions(sdk_call["connect"], "api_version"):
        return path
    assert ".v1.GenerativeService." in path, path  # the SDK's default
    return path.replace(".v1.", ".v1alpha." if token else ".v1beta.", 1)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_vector_python_run_on_rawlive_sends_the_sdks_frames_path_and_key(
    path: pathlib.Path,
) -> None:
    case = path.stem
    vector = load(case)
    lines: list[str] = vector["sdk_call"]["python"]
    if any(DEPRECATED_CALL.search(line) for line in lines):
        pytest.skip(
            "uses the SDK's deprecated session.send()/start_stream(), which rawlive "
            "does not implement (the issue says they are not needed)"
        )
    results = vector["call_results"]
    assert len(results) == len(lines) - 2

    def expect_call(i: int) -> contextlib.AbstractContextManager[Any]:
        if results[i]["error"] is not None:
            assert results[i]["frames"] == []
            return pytest.raises(ConfigError)
        if case == NONFINITE_CASE:
            return pytest.raises(ConfigError, match="JSON cannot carry")
        return contextlib.nullcontext()

    async with CaptureServer() as server:
        run = vector_function(lines, server.port)
        if not vector["connected"]:
            # The SDK refused the config before dialing: so must rawlive.
            assert vector["connect_error"] is not None
            with pytest.raises(ConfigError):
                await run(RAWLIVE_AS_GENAI, rawlive.wire.types, expect_call)
            assert server.connections == []
            return
        await asyncio.wait_for(run(RAWLIVE_AS_GENAI, rawlive.wire.types, expect_call), TIMEOUT)
        capture = await closed(server, 0)
        assert len(server.connections) == 1

    frames = frames_of(capture)
    expected_frames: list[Any] = vector["frames"]
    if case == NONFINITE_CASE:
        expected_frames = expected_frames[:1]  # rawlive sent nothing for the NaN call
    if case == BYTES_IN_USER_DATA_CASE:
        align_bytes_in_user_data(frames, expected_frames)
    assert_frames_equal(expected_frames, frames, case)
    assert capture.close_code == vector["client_close"]["code"]

    api_key: str = vector["sdk_call"]["client"]["api_key"]
    token = api_key.startswith(TOKEN_PREFIX)
    assert capture.path == expected_path(vector, token)
    if token:
        assert vector["auth"]["headers"] == {
            "x-goog-api-key": api_key,
            "Authorization": f"Token {api_key}",
        }
        assert capture.query == {"access_token": [api_key]}
        assert capture.header("x-goog-api-key") is None
        assert capture.header("authorization") is None
    else:
        assert vector["auth"]["headers"], "every keyed vector authenticates"
        for name, value in vector["auth"]["headers"].items():
            assert capture.header(name) == value, name
        assert capture.header("authorization") is None
        assert capture.query == {k: [v] for k, v in vector["query"].items()}
    for name, value in vector["headers"]:
        if name.lower() not in GENERIC_HEADERS | AUTH_HEADERS:
            assert capture.header(name) == value, f"extra header {name}"


# ---------------------------------------------------------------------------
# Endpoints rawlive chooses that the vectors do not cover
# ---------------------------------------------------------------------------


async def test_ephemeral_token_reaches_the_constrained_method_as_access_token_query() -> None:
    token = "auth_tokens/test-token"
    async with CaptureServer() as server:
        async with rawlive.connect(
            "gemini-live-2.5-flash-preview",
            {"response_modalities": ["AUDIO"]},
            api_key=token,
            endpoint=f"ws://127.0.0.1:{server.port}",
        ):
            pass
        capture = await closed(server, 0)
    assert capture.path == (
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    assert capture.query == {"access_token": [token]}
    assert capture.header("x-goog-api-key") is None
    assert capture.header("authorization") is None
    assert_frames_equal(
        [
            {
                "setup": {
                    "model": "models/gemini-live-2.5-flash-preview",
                    "generationConfig": {"responseModalities": ["AUDIO"]},
                }
            }
        ],
        frames_of(capture),
        "ephemeral token session",
    )


async def test_vertex_oauth_reaches_llm_bidi_service_with_bearer_and_full_model_name() -> None:
    async with CaptureServer() as server:
        async with rawlive.connect(
            model="gemini-live-2.5-flash",
            vertex=True,
            project="my-proj",
            location="us-central1",
            access_token="ya29.test",
            endpoint=server.url,
        ):
            pass
        capture = await closed(server, 0)
    assert capture.path == "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    assert capture.query == {}
    assert capture.header("authorization") == "Bearer ya29.test"
    assert capture.header("x-goog-api-key") is None
    assert_frames_equal(
        [
            {
                "setup": {
                    "model": (
                        "projects/my-proj/locations/us-central1/publishers/google/models/"
                        "gemini-live-2.5-flash"
                    ),
                    # Vertex needs a modality; the SDK injects AUDIO, so does rawlive.
                    "generationConfig": {"responseModalities": ["AUDIO"]},
                }
            }
        ],
        frames_of(capture),
        "vertex session",
    )


# ---------------------------------------------------------------------------
# Part 2: the real SDK and rawlive side by side over TLS
# ---------------------------------------------------------------------------

MODEL = "gemini-live-2.5-flash-preview"
KEY = "TEST_KEY-side-by-side"
V1BETA_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
PCM_16K = bytes.fromhex("0000ff7f0080fe3f01c0") * 16  # 80 samples of 16-bit PCM
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


@pytest.fixture
def genai() -> Any:
    """google-genai (a dev dependency): these tests skip without it."""
    return pytest.importorskip("google.genai")


def function_tool(types: Any) -> Any:
    return types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Returns the forecast for a city.",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={
                        "city": types.Schema(type=types.Type.STRING, description="City name"),
                        "days": types.Schema(type=types.Type.INTEGER, minimum=1, maximum=7),
                    },
                    required=["city"],
                ),
            )
        ]
    )


def manual_vad(types: Any) -> Any:
    return types.RealtimeInputConfig(
        automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
    )


def config_full(types: Any) -> Any:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        system_instruction="You are a helpful weather assistant.",
        tools=[function_tool(types)],
        realtime_input_config=manual_vad(types),
    )


def config_resumption_and_compression(types: Any) -> Any:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        session_resumption=types.SessionResumptionConfig(handle="CiQ0ZjE0LXJlc3VtZS1oYW5kbGU"),
        context_window_compression=types.ContextWindowCompressionConfig(
            trigger_tokens=25600, sliding_window=types.SlidingWindow(target_tokens=12800)
        ),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(
                start_of_speech_sensitivity=types.StartSensitivity.START_SENSITIVITY_LOW,
                end_of_speech_sensitivity=types.EndSensitivity.END_SENSITIVITY_HIGH,
                prefix_padding_ms=20,
                silence_duration_ms=500,
            ),
            activity_handling=types.ActivityHandling.NO_INTERRUPTION,
            turn_coverage=types.TurnCoverage.TURN_INCLUDES_ALL_INPUT,
        ),
    )


def config_speech_and_thinking(types: Any) -> Any:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore")
            ),
            language_code="en-US",
        ),
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
        enable_affective_dialog=True,
        proactivity=types.ProactivityConfig(proactive_audio=True),
        realtime_input_config=manual_vad(types),
    )


def config_text_and_sampling(types: Any) -> Any:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.TEXT],
        temperature=0.7,
        top_p=0.95,
        top_k=40,
        max_output_tokens=1024,
        seed=42,
        media_resolution=types.MediaResolution.MEDIA_RESOLUTION_LOW,
        thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW),
        system_instruction=types.Content(
            parts=[types.Part(text="You are a pirate."), types.Part(text="Stay in character.")]
        ),
    )


def config_mixed_tools(types: Any) -> Any:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        tools=[
            function_tool(types),
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="set_volume",
                        description="Sets the volume.",
                        parameters_json_schema={
                            "type": "object",
                            "properties": {"level": {"type": "integer", "maximum": 11}},
                            "required": ["level"],
                        },
                        behavior=types.Behavior.NON_BLOCKING,
                    )
                ]
            ),
            types.Tool(google_search=types.GoogleSearch()),
            types.Tool(code_execution=types.ToolCodeExecution()),
        ],
        input_audio_transcription=types.AudioTranscriptionConfig(language_codes=["en-US"]),
    )


# (id, config factory taking a ``types`` module, whether activity detection is manual)
SIDE_BY_SIDE = [
    ("full", config_full, True),
    ("resumption_and_compression", config_resumption_and_compression, False),
    ("speech_and_thinking", config_speech_and_thinking, True),
    ("text_and_sampling", config_text_and_sampling, False),
    ("mixed_tools", config_mixed_tools, False),
]


async def drive(session: Any, types: Any, manual: bool) -> None:
    """The same calls, through either client's session and ``types``."""
    audio = types.Blob(data=PCM_16K, mime_type="audio/pcm;rate=16000")
    if manual:
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await session.send_realtime_input(audio=audio)
        await session.send_realtime_input(activity_end=types.ActivityEnd())
    else:
        await session.send_realtime_input(audio=audio)
        await session.send_realtime_input(audio_stream_end=True)
    await session.send_realtime_input(video=types.Blob(data=JPEG, mime_type="image/jpeg"))
    await session.send_realtime_input(text="And tomorrow?")
    await session.send_client_content(
        turns=[
            types.Content(role="user", parts=[types.Part(text="What is the weather in Oslo?")]),
            types.Content(role="model", parts=[types.Part(text="Let me check.")]),
        ],
        turn_complete=True,
    )
    await session.send_tool_response(
        function_responses=[
            types.FunctionResponse(
                id="fc-1",
                name="get_weather",
                response={"output": {"temp_c": 3.5, "sky": "snow", "hourly": [1, 2]}},
            )
        ]
    )
    await session.send_context_update(system_instruction="Speak slowly.")


@pytest.mark.parametrize(
    ("make_config", "manual"),
    [(make, manual) for _, make, manual in SIDE_BY_SIDE],
    ids=[name for name, _, _ in SIDE_BY_SIDE],
)
async def test_sdk_and_rawlive_send_the_same_session_over_tls(
    genai: Any,
    tls: tuple[pathlib.Path, pathlib.Path],
    monkeypatch: pytest.MonkeyPatch,
    make_config: Callable[[Any], Any],
    manual: bool,
) -> None:
    ca_file, server_pem = tls
    # The SDK builds its websocket SSL context from SSL_CERT_FILE (else
    # certifi) when the client is made: point it at the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    async with CaptureServer(ssl=server_ssl_context(server_pem)) as server:
        assert server.url.startswith("wss://")
        options = {"base_url": f"https://127.0.0.1:{server.port}", "api_version": "v1beta"}

        sdk_client = genai.Client(api_key=KEY, http_options=options)
        async with sdk_client.aio.live.connect(
            model=MODEL, config=make_config(genai.types)
        ) as session:
            await drive(session, genai.types, manual)
        sdk = await closed(server, 0)

        ours_client = rawlive.Client(api_key=KEY, http_options=options, ca_file=str(ca_file))
        async with ours_client.aio.live.connect(
            model=MODEL, config=make_config(rawlive.wire.types)
        ) as session:
            await drive(session, rawlive.wire.types, manual)
        ours = await closed(server, 1)

    sdk_frames = frames_of(sdk)
    assert len(sdk_frames) == (9 if manual else 8)  # setup and every call
    assert_frames_equal(sdk_frames, frames_of(ours), "rawlive vs SDK")
    assert ours.path == sdk.path
    assert sdk.path == V1BETA_PATH
    assert ours.header("x-goog-api-key") == sdk.header("x-goog-api-key") == KEY
    assert ours.query == sdk.query == {}
    assert ours.close_code == sdk.close_code == 1000


async def test_rawlive_connect_with_ca_file_matches_the_sdk_over_tls(
    genai: Any, tls: tuple[pathlib.Path, pathlib.Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rawlive.connect(endpoint=wss://..., ca_file=...)`` too, not only the Client shim."""
    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async with CaptureServer(ssl=server_ssl_context(server_pem)) as server:
        sdk_client = genai.Client(
            api_key=KEY,
            http_options={"base_url": f"https://127.0.0.1:{server.port}", "api_version": "v1beta"},
        )
        async with sdk_client.aio.live.connect(
            model=MODEL, config=config_full(genai.types)
        ) as session:
            await drive(session, genai.types, manual=True)
        sdk = await closed(server, 0)

        async with rawlive.connect(
            MODEL,
            config_full(rawlive.wire.types),
            api_key=KEY,
            endpoint=server.url,
            api_version="v1beta",
            ca_file=ca_file,
        ) as session:
            await drive(session, rawlive.wire.types, manual=True)
        ours = await closed(server, 1)

    assert_frames_equal(frames_of(sdk), frames_of(ours), "rawlive.connect vs SDK")
    assert ours.path == sdk.path
    assert ours.header("x-goog-api-key") == sdk.header("x-goog-api-key") == KEY


@pytest.mark.parametrize(
    ("make_config", "manual"),
    [(lambda types: None, False), (config_full, True)],
    ids=["no_config", "full"],
)
async def test_sdk_and_rawlive_send_the_same_vertex_session_over_tls(
    genai: Any,
    tls: tuple[pathlib.Path, pathlib.Path],
    monkeypatch: pytest.MonkeyPatch,
    make_config: Callable[[Any], Any],
    manual: bool,
) -> None:
    """Vertex AI with an OAuth token: path, Bearer header, model name, AUDIO injected."""
    credentials = pytest.importorskip("google.oauth2.credentials")
    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    vertex = {"project": "my-proj", "location": "us-central1"}

    async with CaptureServer(ssl=server_ssl_context(server_pem)) as server:
        sdk_client = genai.Client(
            vertexai=True,
            credentials=credentials.Credentials(token="ya29.test"),
            http_options={"base_url": f"https://127.0.0.1:{server.port}"},
            **vertex,
        )
        async with sdk_client.aio.live.connect(
            model="gemini-live-2.5-flash", config=make_config(genai.types)
        ) as session:
            await drive(session, genai.types, manual)
        sdk = await closed(server, 0)

        async with rawlive.connect(
            "gemini-live-2.5-flash",
            make_config(rawlive.wire.types),
            vertex=True,
            access_token="ya29.test",
            endpoint=server.url,
            ca_file=ca_file,
            **vertex,
        ) as session:
            await drive(session, rawlive.wire.types, manual)
        ours = await closed(server, 1)

    sdk_frames = frames_of(sdk)
    assert sdk_frames[0]["setup"]["model"] == (
        "projects/my-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    )
    assert sdk_frames[0]["setup"]["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert_frames_equal(sdk_frames, frames_of(ours), "rawlive vs SDK on Vertex")
    assert ours.path == sdk.path
    assert sdk.path == "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    assert ours.header("authorization") == sdk.header("authorization") == "Bearer ya29.test"
    assert ours.header("x-goog-api-key") is sdk.header("x-goog-api-key") is None

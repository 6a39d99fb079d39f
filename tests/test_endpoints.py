"""Endpoint URLs, auth placement and secret redaction (PROTOCOL.md §1)."""

from __future__ import annotations

import logging

import pytest

import rawlive
from rawlive.wire import endpoints

KEY = "fake.TESTKEY-not-a-real-key-0123456789"
TOKEN = "auth_tokens/test.token0123456789abcdef"


def test_api_key_goes_in_the_header_on_the_documented_v1beta_path() -> None:
    ep = endpoints.resolve(api_key=KEY, env={})
    assert ep.url == (
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert ("x-goog-api-key", KEY) in ep.headers
    assert KEY not in ep.url


def test_the_key_comes_from_gemini_api_key_then_google_api_key() -> None:
    assert ("x-goog-api-key", "g1") in endpoints.resolve(
        env={"GEMINI_API_KEY": "g1", "GOOGLE_API_KEY": "g2"}
    ).headers
    assert ("x-goog-api-key", "g2") in endpoints.resolve(env={"GOOGLE_API_KEY": "g2"}).headers


def test_no_key_and_no_endpoint_names_the_variables_and_the_local_server() -> None:
    with pytest.raises(rawlive.ConfigError) as info:
        endpoints.resolve(env={})
    message = str(info.value)
    assert "GEMINI_API_KEY" in message and "GOOGLE_API_KEY" in message
    assert "endpoint=" in message


def test_ephemeral_token_uses_the_constrained_method_and_access_token_query() -> None:
    ep = endpoints.resolve(api_key=TOKEN, env={})
    assert ".v1alpha.GenerativeService.BidiGenerateContentConstrained?access_token=" in ep.url
    assert ep.url.endswith("access_token=" + TOKEN)
    assert not any(name.lower() == "x-goog-api-key" for name, _ in ep.headers)


def test_ephemeral_token_refuses_api_version_v1() -> None:
    with pytest.raises(rawlive.ConfigError, match="v1alpha"):
        endpoints.resolve(api_key=TOKEN, api_version="v1", env={})


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("global", "aiplatform.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_vertex_oauth_uses_bearer_on_the_locations_llmbidiservice(location: str, host: str) -> None:
    ep = endpoints.resolve(
        vertex=True, location=location, access_token="ya29.secret", quota_project="p", env={}
    )
    assert ep.url == (
        f"wss://{host}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert ("Authorization", "Bearer ya29.secret") in ep.headers
    assert ("x-goog-user-project", "p") in ep.headers


def test_vertex_express_mode_sends_the_key_to_the_global_host() -> None:
    ep = endpoints.resolve(vertex=True, api_key=KEY, location="us-central1", env={})
    assert ep.url.startswith("wss://aiplatform.googleapis.com/ws/")
    assert ("x-goog-api-key", KEY) in ep.headers


def test_an_endpoint_without_a_path_gets_the_backends_standard_path() -> None:
    ep = endpoints.resolve(endpoint="ws://127.0.0.1:8765", api_key=KEY, env={})
    assert ep.url == (
        "ws://127.0.0.1:8765/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )


def test_an_endpoint_with_a_path_is_used_as_is_and_http_maps_to_ws() -> None:
    assert endpoints.resolve(endpoint="http://h:1/custom", env={}).url == "ws://h:1/custom"
    assert endpoints.resolve(endpoint="https://h/x", env={}).url == "wss://h/x"


def test_a_local_endpoint_needs_no_key() -> None:
    ep = endpoints.resolve(endpoint="ws://127.0.0.1:9", env={})
    assert ep.headers == ()


def test_an_endpoint_with_another_scheme_is_refused_clearly() -> None:
    with pytest.raises(rawlive.ConfigError, match="ws://"):
        endpoints.resolve(endpoint="ftp://h/?key=" + KEY, env={})
    with pytest.raises(rawlive.ConfigError) as info:
        endpoints.resolve(endpoint="ftp://h/?key=" + KEY, env={})
    assert KEY not in str(info.value)


def test_a_missing_ca_file_is_a_config_error() -> None:
    with pytest.raises(rawlive.ConfigError, match="CA file"):
        endpoints.resolve(endpoint="wss://127.0.0.1:1", ca_file="/nonexistent/ca.pem", env={})


def test_repr_and_redacted_views_never_show_a_secret() -> None:
    for ep in (
        endpoints.resolve(api_key=KEY, env={}),
        endpoints.resolve(api_key=TOKEN, env={}),
        endpoints.resolve(vertex=True, access_token="ya29.secret-token", env={}),
        endpoints.resolve(api_key=KEY, headers={"Authorization": "Bearer other"}, env={}),
    ):
        shown = repr(ep) + ep.redacted_url() + repr(ep.redacted_headers())
        for secret in (KEY, TOKEN, "ya29.secret-token", "Bearer other"):
            assert secret not in shown


def test_redact_hides_credential_slots_even_for_unknown_values() -> None:
    text = "GET /ws?key=abc&x=1 access_token=t/1\nx-goog-api-key: zzz\nAuthorization: Bearer qq"
    assert endpoints.redact(text) == (
        "GET /ws?key=<redacted>&x=1 access_token=<redacted>\n"
        "x-goog-api-key: <redacted>\nAuthorization: <redacted>"
    )
    assert endpoints.redact("monkey=1&apikey_x=2") == "monkey=1&apikey_x=2"


def test_redact_hides_url_encoded_secrets() -> None:
    redacted = endpoints.redact("p=auth_tokens%2Ftest.token0123456789abcdef", [TOKEN])
    assert "test.token" not in redacted


def test_redacting_logger_keeps_handshake_headers_out_of_debug_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = endpoints.RedactingLogger(logging.getLogger("websockets.client"), [KEY])
    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        logger.debug("> %s: %s", "x-goog-api-key", KEY)
        logger.debug("> GET %s HTTP/1.1", "/ws/x?access_token=" + TOKEN)
        logger.info("payload mentions %s", KEY)
    assert len(caplog.records) == 3
    assert KEY not in caplog.text and TOKEN not in caplog.text


def test_credentials_found_in_url_and_header_slots() -> None:
    found = endpoints.credentials(
        "/ws/x?alt=1&key=AIza%2Fkey+1&access_token=tok",
        [("Authorization", "Bearer ya29.abc"), ("x-goog-api-key", endpoints.REDACTED)],
    )
    assert found == [
        "AIza%2Fkey+1",
        "AIza/key+1",
        "AIza/key 1",
        "tok",
        "Bearer ya29.abc",
        "ya29.abc",
    ]
    assert endpoints.credentials(None, [("User-Agent", "x")]) == []


def test_credentials_in_a_urls_userinfo_are_found_user_and_password() -> None:
    found = endpoints.credentials("ws://some%2Duser:AIza%2Fkey@h:1/ws?x=1")
    assert found == ["some%2Duser", "some-user", "AIza%2Fkey", "AIza/key"]
    assert endpoints.credentials("ws://h:1/ws") == []


def test_redact_hides_a_urls_userinfo_whatever_its_value() -> None:
    text = "cannot connect to ws://user:pass@127.0.0.1:1/ws (and wss://u@h, https://a:b@h/x)"
    assert endpoints.redact(text) == (
        "cannot connect to ws://<redacted>@127.0.0.1:1/ws "
        "(and wss://<redacted>@h, https://<redacted>@h/x)"
    )
    assert endpoints.redact("mail me at user@example.com") == "mail me at user@example.com"


def test_redact_hides_query_parameters_with_percent_encoded_names() -> None:
    text = "GET /ws?%6Bey=a&x=1&%6b%65%79=b&acc%65ss_token=c&%74oken=d&k%65y_x=e HTTP/1.1"
    assert endpoints.redact(text) == (
        "GET /ws?%6Bey=<redacted>&x=1&%6b%65%79=<redacted>&acc%65ss_token=<redacted>"
        "&%74oken=<redacted>&k%65y_x=e HTTP/1.1"
    )


def test_redact_hides_a_credential_headers_whole_value_commas_included() -> None:
    assert endpoints.redact("< x-goog-api-key: a, zzz") == "< x-goog-api-key: <redacted>"
    assert endpoints.redact("> Authorization: Bearer a, Bearer b\n> Host: h") == (
        "> Authorization: <redacted>\n> Host: h"
    )


def test_a_key_in_the_endpoint_url_is_one_of_its_secrets() -> None:
    ep = endpoints.resolve(endpoint=f"ws://127.0.0.1:1/ws?key={KEY}", env={})
    assert KEY in ep.secrets
    ep = endpoints.resolve(endpoint=f"ws://user:{KEY}@127.0.0.1:1/ws", env={})
    assert KEY in ep.secrets and "user" in ep.secrets
    assert KEY not in repr(ep) and "user" not in repr(ep)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost", "LocalHost", "[::ffff:127.0.0.1]"]
)
def test_credentials_may_go_over_plain_ws_to_loopback(host: str) -> None:
    ep = endpoints.resolve(api_key=KEY, endpoint=f"ws://{host}:1", env={})
    assert ("x-goog-api-key", KEY) in ep.headers


@pytest.mark.parametrize(
    ("endpoint", "options", "hint"),
    [
        ("ws://192.0.2.1:1", {"api_key": KEY}, "api_key=''"),
        ("ws://192.0.2.1:1", {"env": {"GEMINI_API_KEY": KEY}}, "GEMINI_API_KEY"),
        ("ws://192.0.2.1:1", {"env": {"GOOGLE_API_KEY": KEY}}, "GOOGLE_API_KEY"),
        ("http://localhost.example:1", {"api_key": TOKEN}, "api_key=''"),
        ("ws://[2001:db8::1]:1", {"vertex": True, "access_token": "ya29.x"}, "access_token"),
        ("ws://192.0.2.1:1", {"headers": {"Authorization": "Bearer b"}}, "header"),
        (f"ws://192.0.2.1:1/ws?key={KEY}", {}, "from the URL"),
        (f"ws://u:{KEY}@192.0.2.1:1/ws", {}, "from the URL"),
    ],
)
def test_no_credential_goes_over_plain_ws_to_a_host_not_loopback(
    endpoint: str, options: dict[str, object], hint: str
) -> None:
    kwargs: dict[str, object] = {"env": {}, **options}
    with pytest.raises(rawlive.ConfigError) as info:
        endpoints.resolve(endpoint=endpoint, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "in clear" in message and "wss://" in message and hint in message
    assert KEY not in message and TOKEN not in message


def test_credentials_go_over_wss_anywhere_and_nothing_secret_over_plain_ws() -> None:
    assert endpoints.resolve(api_key=KEY, endpoint="wss://192.0.2.1:1", env={}).headers
    assert endpoints.resolve(endpoint="ws://192.0.2.1:1", env={}).headers == ()
    # An empty key is no key: how to drop the environment's for one endpoint.
    ep = endpoints.resolve(api_key="", endpoint="ws://192.0.2.1:1", env={"GEMINI_API_KEY": KEY})
    assert ep.headers == ()


@pytest.mark.parametrize(
    ("url", "model", "backend"),
    [
        ("wss://h" + endpoints.vertex_path(), "models/gemini-3.8-live", "vertex"),
        ("wss://h" + endpoints.gemini_path(), "projects/p/locations/l/models/m", "gemini"),
        ("wss://h" + endpoints.gemini_path(constrained=True), None, "gemini"),
        ("ws://127.0.0.1:8765/ws", "projects/p/locations/us/publishers/google/models/m", "vertex"),
        ("ws://127.0.0.1:8765/ws", "models/gemini-3.8-live", None),
        (None, None, None),
    ],
)
def test_the_backend_is_the_urls_path_else_the_models_form(
    url: str | None, model: str | None, backend: str | None
) -> None:
    assert endpoints.backend_of(url, model) == backend

"""``rawlive.Client``: the SDK's entry point, so the official guide's code runs unchanged.

Only the Live surface exists: ``Client(...).aio.live.connect(model=...,
config=...)`` returns what :func:`rawlive.connect` returns, and
``http_options`` is read as the SDK reads it (README, "Use the library").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rawlive.client.session import Connecting, connect
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = ["Client"]


class _Live:
    def __init__(self, client: Client) -> None:
        self._client = client

    def connect(
        self, *, model: str, config: t.LiveConnectConfig | dict[str, Any] | None = None
    ) -> Connecting:
        """Open a Live session, as ``client.aio.live.connect`` in the SDK."""
        client = self._client
        options = client.http_options
        # A per-session http_options in the config wins, as in the SDK.
        session_options = _session_http_options(config)
        if session_options is not None:
            options = _merge(options, session_options)
        base_url = options.base_url
        return connect(
            model,
            config,
            api_key=client.api_key,
            endpoint=base_url,
            api_version=options.api_version,
            vertex=client.vertexai,
            project=client.project,
            location=client.location,
            access_token=client.access_token,
            headers=options.headers,
            ca_file=client.ca_file,
        )


class _Aio:
    def __init__(self, client: Client) -> None:
        self.live = _Live(client)


def _as_http_options(value: t.HttpOptions | Mapping[str, Any] | None) -> t.HttpOptions:
    if value is None:
        return t.HttpOptions()
    if isinstance(value, t.HttpOptions):
        return value
    return codec.convert(dict(value), t.HttpOptions)


def _session_http_options(config: Any) -> t.HttpOptions | None:
    if isinstance(config, t.LiveConnectConfig):
        return config.http_options
    if isinstance(config, Mapping):
        value = config.get("http_options", config.get("httpOptions"))
        return None if value is None else _as_http_options(value)
    return None


def _merge(base: t.HttpOptions, override: t.HttpOptions) -> t.HttpOptions:
    return t.HttpOptions(
        base_url=override.base_url or base.base_url,
        api_version=override.api_version or base.api_version,
        headers={**(base.headers or {}), **(override.headers or {})} or None,
        timeout=override.timeout or base.timeout,
    )


class Client:
    """The SDK's ``genai.Client``, reduced to what a Live session needs.

    ``api_key`` falls back to ``GEMINI_API_KEY``/``GOOGLE_API_KEY``. With
    ``vertexai=True``, pass ``project``/``location`` and an OAuth
    ``access_token`` (rawlive does not run google-auth), or an ``api_key``
    for express mode. ``ca_file`` trusts a local server's certificate.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        vertexai: bool = False,
        project: str | None = None,
        location: str | None = None,
        http_options: t.HttpOptions | Mapping[str, Any] | None = None,
        access_token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.vertexai = vertexai
        self.project = project
        self.location = location
        self.access_token = access_token
        self.ca_file = ca_file
        self.http_options = _as_http_options(http_options)
        self.aio = _Aio(self)

    def __repr__(self) -> str:
        backend = "vertexai" if self.vertexai else "gemini"
        return f"<rawlive.Client {backend} base_url={self.http_options.base_url!r}>"

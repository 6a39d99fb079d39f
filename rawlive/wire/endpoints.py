"""Where to connect and how to authenticate, and keeping the secrets out of sight.

An :class:`Endpoint` is the URL and handshake headers of one backend
(``PROTOCOL.md`` §1; the README's "Use the library" lists them). The rules:

1. Its ``repr``, :meth:`Endpoint.redacted_url` and
   :meth:`Endpoint.redacted_headers` never show a secret; :func:`redact` and
   :class:`RedactingLogger` keep secrets out of messages and of the
   ``websockets`` handshake log, which prints every request header at DEBUG.
2. :func:`resolve` refuses to send a credential in clear (plain ``ws://``) to
   any host but this machine.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from rawlive.errors import ConfigError

__all__ = [
    "GEMINI_HOST",
    "MIN_FOUND_SECRET_LENGTH",
    "REDACTED",
    "Endpoint",
    "RedactingLogger",
    "Redactor",
    "backend_of",
    "check_transport",
    "check_url",
    "credentials",
    "gemini_path",
    "is_loopback",
    "redact",
    "resolve",
    "vertex_host",
    "vertex_path",
]

GEMINI_HOST = "generativelanguage.googleapis.com"
REDACTED = "<redacted>"
Backend = Literal["gemini", "vertex"]

#: Values found in a credential slot shorter than this are not searched for
#: elsewhere in a text (they cannot be told from ordinary words); the slot
#: itself is redacted whatever the value's length.
MIN_FOUND_SECRET_LENGTH = 4

# Query parameters and headers that carry credentials, whatever their value.
_SECRET_PARAMS = frozenset({"key", "access_token", "token"})
_SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization", "proxy-authorization"})
# Any ``name=value``: the name is decoded before it is compared (``%6Bey`` is ``key``).
_PARAM_RE = re.compile(r"(?<![\w%-])([\w%-]+)=([^&#\s\"']*)")
# A header's whole value, list commas included (``x-goog-api-key: a, KEY``).
_SECRET_HEADER_RE = re.compile(
    r"(?i)((?:x-goog-api-key|authorization|proxy-authorization)\s*[:=]\s*)[^\r\n\"']+"
)
# A URL's userinfo (``wss://user:password@host``): user and password alike.
_USERINFO_RE = re.compile(r"(?i)(?<![\w+.-])((?:wss?|https?)://)[^\s/?#@\"']+@")


def credentials(url: str | None, headers: Iterable[tuple[str, str]] = ()) -> list[str]:
    """The values in a URL's (or request path's) and headers' credential slots.

    The slots: the URL's userinfo (user and password: websockets sends them
    as ``Basic`` credentials), the ``key``/``access_token``/``token`` query
    parameters (names decoded) and the ``x-goog-api-key``/``Authorization``
    headers. URL values come as written and decoded; an ``Authorization``
    value whole and without its scheme (``Bearer``, ``Basic``, ``Token``).
    Values already :data:`REDACTED` are left out. For the secrets of a
    handshake that rawlive was not told about: a key given only in an
    endpoint URL, a client's handshake through the proxy, a cassette written
    by hand.
    """
    values: list[str] = []
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        for raw in userinfo.split(":", 1) if at else ():
            if raw:
                values += [raw, urllib.parse.unquote(raw)]
        for pair in parts.query.split("&"):
            name, _, raw = pair.partition("=")
            if urllib.parse.unquote_plus(name).lower() in _SECRET_PARAMS and raw:
                values += [raw, urllib.parse.unquote(raw), urllib.parse.unquote_plus(raw)]
    for name, value in headers:
        if name.lower() in _SECRET_HEADERS and value:
            values.append(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic", "token"):
                values.append(credential.strip())
    return [v for v in dict.fromkeys(values) if v != REDACTED]


def gemini_path(api_version: str = "v1beta", *, constrained: bool = False) -> str:
    """The Gemini API's WebSocket path (single slash, as documented)."""
    method = "BidiGenerateContentConstrained" if constrained else "BidiGenerateContent"
    return f"/ws/google.ai.generativelanguage.{api_version}.GenerativeService.{method}"


def vertex_path(api_version: str = "v1beta1") -> str:
    """Vertex AI's WebSocket path (``LlmBidiService``)."""
    return f"/ws/google.cloud.aiplatform.{api_version}.LlmBidiService/BidiGenerateContent"


def backend_of(url: str | None, model: str | None = None) -> Backend | None:
    """The API a connection spoke to, from its URL's path (§1.1, §1.3), else its model's form.

    ``LlmBidiService`` is Vertex AI, ``GenerativeService`` the Gemini API; a
    URL that says neither (a local server) leaves it to the model: a Vertex
    resource path (``projects/.../publishers/google/models/...``) is Vertex
    AI. ``None``: nothing tells.
    """
    path = url or ""
    if "LlmBidiService" in path:
        return "vertex"
    if "GenerativeService" in path:
        return "gemini"
    if model and (model.startswith("projects/") or model.startswith("publishers/")):
        return "vertex"
    return None


def vertex_host(location: str | None) -> str:
    """The Vertex AI host for a location, as the SDK chooses it."""
    if not location or location == "global":
        return "aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def _redact_param(match: re.Match[str]) -> str:
    if urllib.parse.unquote_plus(match.group(1)).lower() in _SECRET_PARAMS:
        return f"{match.group(1)}={REDACTED}"
    return match.group(0)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret, and anything in a credential slot, replaced.

    Credential slots are a URL's userinfo (``ws://user:password@host``), the
    ``key``/``access_token``/``token`` query parameters (however their names
    are percent-encoded) and the ``x-goog-api-key``/``Authorization``
    headers (their whole value), so a secret is hidden even when rawlive was
    not told its value.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
            quoted = urllib.parse.quote(secret, safe="")
            if quoted != secret:
                text = text.replace(quoted, REDACTED)
    if "=" in text:
        text = _PARAM_RE.sub(_redact_param, text)
    if "@" in text:
        text = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _SECRET_HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)


class Redactor:
    """Redacts text of known secrets and of those later found in credential slots.

    For what is shown of a recording (``rawlive report``, ``rawlive audit``,
    a proxy's live audit): a cassette written by hand or by an older tool,
    or a client's handshake, may hold a credential rawlive was not told
    about. :meth:`learn` finds the values in a URL's and headers' slots
    (:func:`credentials`, at least :data:`MIN_FOUND_SECRET_LENGTH`
    characters); calling the redactor applies :func:`redact` with every
    secret known so far.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        # Short texts already redacted: findings and labels repeat, frame after frame.
        self._done: dict[str, str] = {}
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Keep these values out of every text redacted from now on."""
        for secret in secrets:
            if len(secret) >= MIN_FOUND_SECRET_LENGTH and secret not in self.secrets:
                self.secrets.append(secret)
                self._done.clear()

    def learn(self, url: str | None, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Add the values in this URL's and these headers' credential slots."""
        self.add(credentials(url, headers))

    def __call__(self, text: str) -> str:
        done = self._done.get(text)
        if done is None:
            done = redact(text, self.secrets)
            if len(text) <= 256:
                if len(self._done) >= 4096:
                    self._done.clear()
                self._done[text] = done
        return done

    def __repr__(self) -> str:
        return f"<Redactor of {len(self.secrets)} secret(s)>"


@dataclasses.dataclass(frozen=True, repr=False)
class Endpoint:
    """One place to connect to: URL, handshake headers and TLS settings.

    ``secrets`` lists every credential value this endpoint carries, so that
    everything derived from it can be redacted.
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    backend: Backend = "gemini"
    secrets: tuple[str, ...] = ()
    ssl: ssl.SSLContext | None = None
    api_version: str | None = None

    @property
    def secure(self) -> bool:
        return self.url.startswith("wss://")

    def redacted_url(self) -> str:
        """The URL with credentials replaced by ``<redacted>``."""
        return redact(self.url, self.secrets)

    def redacted_headers(self) -> list[tuple[str, str]]:
        """The handshake headers with credential values replaced."""
        return [
            (name, REDACTED if name.lower() in _SECRET_HEADERS else redact(value, self.secrets))
            for name, value in self.headers
        ]

    def redact(self, text: str) -> str:
        """Any text with this endpoint's secrets removed."""
        return redact(text, self.secrets)

    def __repr__(self) -> str:
        return (
            f"Endpoint(url={self.redacted_url()!r}, backend={self.backend!r}, "
            f"headers={self.redacted_headers()!r})"
        )


def _ws_scheme(url: str) -> str:
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith(("ws://", "wss://")):
        return url
    raise ConfigError(
        f"endpoint must start with ws://, wss://, http:// or https://, got {redact(url)!r}"
    )


def _ssl_context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA file {os.fspath(ca_file)!r}: {exc}") from None


def _env_key(env: Mapping[str, str]) -> str | None:
    return env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None


def check_url(url: str, secrets: Iterable[str], *, what: str = "endpoint") -> None:
    """Refuse now, redacted, a URL that ``websockets`` would refuse when dialling.

    Its error (``InvalidURI``, ``ValueError`` for a bad port) quotes the whole
    URL, query credentials included (``ws:///ws?key=...``, an
    ``access_token`` appended after a ``#fragment``), and it would escape
    as is. Raised outside the ``except`` so that the original is not kept as
    the new error's context either.
    """
    try:
        parse_uri(url)
        return
    except InvalidURI as exc:
        problem = exc.msg
    except ValueError as exc:  # a port out of range or not a number; a bad IDNA host
        problem = str(exc)
    raise ConfigError(f"invalid {what} URL {redact(url, secrets)!r}: {redact(problem, secrets)}")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's host name) is this machine: 127.0.0.0/8, ``::1``, ``localhost``."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_transport(url: str, sent: list[tuple[str, str]], secrets: Iterable[str]) -> None:
    """Refuse to send credentials in clear (plain ``ws://``) to a host not this machine.

    ``sent`` says what the handshake would carry and how to drop each one;
    checked before any connection is attempted.
    """
    host = urllib.parse.urlsplit(url).hostname
    if not sent or url.startswith("wss://") or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to send {' and '.join(what for what, _ in sent)} in clear over plain ws:// "
        f"to {host}, which is not this machine ({redact(url, secrets)}): use a wss:// "
        f"endpoint, or connect without {'it' if len(sent) == 1 else 'them'} "
        f"({'; '.join(drop for _, drop in sent)})"
    )


def resolve(
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    api_version: str | None = None,
    vertex: bool = False,
    location: str | None = None,
    access_token: str | None = None,
    quota_project: str | None = None,
    headers: Mapping[str, str] | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Work out the URL and headers for a connection.

    * Gemini API: ``api_key`` (else ``GEMINI_API_KEY``, else
      ``GOOGLE_API_KEY``) goes in the ``x-goog-api-key`` header. A key of the
      form ``auth_tokens/...`` is an ephemeral token: it goes to
      ``BidiGenerateContentConstrained`` as the ``access_token`` query
      parameter (never with API version ``v1``, where the method is missing).
    * Vertex AI (``vertex=True``): ``access_token`` (OAuth) as
      ``Authorization: Bearer``, or an API key (express mode), on the
      location's ``LlmBidiService`` URL; ``quota_project`` adds
      ``x-goog-user-project``.
    * ``endpoint``: a ``ws://``/``wss://`` (or ``http(s)://``) URL. With no
      path (``ws://127.0.0.1:8765``) the chosen backend's standard path is
      appended; with a path it is used as is. ``ca_file`` trusts a local
      server's certificate. A credential in the URL (``?key=``, a userinfo
      ``user:password@``) is one of the endpoint's secrets too.

    No credential goes in clear to another machine: with any (the key, from
    the environment too, a token, a credential header or one in the URL), a
    plain ``ws://`` endpoint must be loopback (127.0.0.0/8, ``::1``,
    ``localhost``). ``api_key=""`` connects without the environment's key.

    Raises :class:`~rawlive.ConfigError` when there is nothing to connect
    with, naming what to set, or when a credential would go in clear.
    """
    env = os.environ if env is None else env
    key = api_key if api_key is not None else _env_key(env)
    extra = list((headers or {}).items())
    secrets: list[str] = [v for v in (key, access_token) if v]
    secrets += [v for name, v in extra if name.lower() in _SECRET_HEADERS and v]

    if vertex:
        version = api_version or "v1beta1"
        path = vertex_path(version)
        base = f"wss://{vertex_host(location if access_token or not key else 'global')}"
        auth: list[tuple[str, str]] = []
        if access_token:
            auth.append(("Authorization", f"Bearer {access_token}"))
            if quota_project:
                auth.append(("x-goog-user-project", quota_project))
        elif key:
            auth.append(("x-goog-api-key", key))
        elif endpoint is None:
            raise ConfigError(
                "Vertex AI needs credentials: pass access_token= (an OAuth access token, e.g. "
                "from `gcloud auth print-access-token`) or api_key= for express mode"
            )
        query: dict[str, str] = {}
        backend: Backend = "vertex"
    else:
        token = key is not None and key.startswith("auth_tokens/")
        version = api_version or ("v1alpha" if token else "v1beta")
        if token and version == "v1":
            raise ConfigError(
                "ephemeral tokens (auth_tokens/...) need api_version 'v1alpha' or 'v1beta': "
                "BidiGenerateContentConstrained does not exist on v1"
            )
        path = gemini_path(version, constrained=token)
        base = f"wss://{GEMINI_HOST}"
        auth = [] if token or not key else [("x-goog-api-key", key)]
        query = {"access_token": key} if token and key else {}
        backend = "gemini"
        if key is None and endpoint is None:
            raise ConfigError(
                "no API key and no endpoint: set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini "
                "API key, pass api_key=..., or pass endpoint='ws://127.0.0.1:8765' to talk to a "
                "local Live API server such as rawlive's emulator"
            )

    if endpoint is not None:
        url = _ws_scheme(endpoint)
        parts = urllib.parse.urlsplit(url)
        if parts.path in ("", "/"):
            url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    else:
        url = base + path
    if query:
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        url += separator + urllib.parse.urlencode(query, safe="/")
    # A credential written in the endpoint URL is as secret as one given apart.
    found = credentials(endpoint) if endpoint is not None else []
    secrets += [v for v in found if len(v) >= MIN_FOUND_SECRET_LENGTH]
    check_url(url, secrets)
    token_sent = access_token if vertex else None  # (Vertex AI's OAuth; else unused)
    key_sent = None if token_sent else key
    check_transport(url, _sent(key_sent, api_key, env, token_sent, extra, found), secrets)

    return Endpoint(
        url=url,
        headers=tuple(auth + extra),
        backend=backend,
        secrets=tuple(dict.fromkeys(secrets)),
        ssl=_ssl_context(ca_file),
        api_version=version,
    )


def _sent(
    key: str | None,
    api_key: str | None,
    env: Mapping[str, str],
    access_token: str | None,
    extra: list[tuple[str, str]],
    in_url: list[str],
) -> list[tuple[str, str]]:
    """The credentials a handshake carries: (what it is, how to leave it out).

    ``key`` and ``access_token`` as sent (``None`` when not).
    """
    sent: list[tuple[str, str]] = []
    if in_url:
        sent.append(("the credential in the endpoint URL", "remove it from the URL"))
    if access_token:
        sent.append(("the access token", "leave out access_token"))
    if key:
        what = "the ephemeral token" if key.startswith("auth_tokens/") else "the API key"
        if api_key is not None:
            sent.append((what, "pass api_key=''"))
        else:
            var = "GEMINI_API_KEY" if env.get("GEMINI_API_KEY") else "GOOGLE_API_KEY"
            sent.append((f"{what} from {var}", f"unset {var} or set it empty"))
    for name, value in extra:
        if name.lower() in _SECRET_HEADERS and value:
            sent.append((f"the {name} header", f"leave out the {name} header"))
    return sent


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for ``websockets`` that formats each record, then redacts it.

    ``websockets`` logs the handshake (``> x-goog-api-key: ...``, the request
    path with its query) and frames at DEBUG; passing this as its ``logger``
    keeps credentials out of every log line.
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str]) -> None:
        super().__init__(logger, {})
        self.secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", redact(text, self.secrets), **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, exc_info=exc_info, **kwargs)

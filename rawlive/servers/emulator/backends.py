"""Each backend's shape of the server messages, and the emulator's quota refusals.

The emulator answers both APIs (``PROTOCOL.md`` §1.1, §1.3): a connection
on ``...GenerativeService.BidiGenerateContent`` is the Gemini API, one on
``...LlmBidiService/BidiGenerateContent`` Vertex AI (:func:`backend_of`).
Its messages are built in the Gemini API's shape; on Vertex AI,
:meth:`Shape.apply` gives them the shape recordings of Vertex's servers
show (§9, §3.7, §10.11):

- ``setupComplete`` carries ``{"sessionId": "<uuid>"}`` (the Gemini API: ``{}``);
- ``modelTurn`` has ``"role": "model"`` (the Gemini API leaves it out);
- audio parts are plain ``audio/pcm`` (the Gemini API: ``audio/pcm;rate=24000``);
- ``usageMetadata`` names the response counts ``candidatesTokenCount`` /
  ``candidatesTokensDetails`` (the Gemini API: ``responseTokenCount`` /
  ``responseTokensDetails``). Vertex also has ``trafficType``, but no
  recording gives its value (§10.11), so the emulator does not make one up.

A Vertex AI session that asked for the live avatar (:mod:`.avatar`) sends
every message as a binary frame and never a ``sessionResumptionUpdate``
(§10.10).

Quota (§10.12): with ``max_sessions``, a session beyond that many
concurrent ones is refused, in one of :data:`QUOTA_STYLES`: ``"close"``
(the default, what reports show: the upgrade is accepted, then the socket
closes with 1011 and RESOURCE_EXHAUSTED text, :data:`QUOTA_CLOSE`) or
``"http"`` (the handshake is answered HTTP 429 with a JSON error body and no
upgrade; never observed on Google's servers, but a client should survive it).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from http import HTTPStatus
from typing import Literal

import msgspec

from rawlive.core.models import Model
from rawlive.errors import ConfigError
from rawlive.servers.emulator.avatar import AvatarVideo, wants_avatar
from rawlive.wire import types as t
from rawlive.wire.endpoints import Backend

__all__ = [
    "QUOTA_CLOSE",
    "QUOTA_HTTP_STATUS",
    "QUOTA_STYLES",
    "QuotaStyle",
    "Shape",
    "backend_of",
    "check_quota_options",
    "quota_http_body",
    "shape_for",
    "strip_rate",
]

QuotaStyle = Literal["close", "http"]
#: How a session beyond ``max_sessions`` is refused (§10.12).
QUOTA_STYLES: tuple[QuotaStyle, ...] = ("close", "http")

#: The close for a session beyond the quota: 1011 with RESOURCE_EXHAUSTED text
#: (§5.3, §10.12: reported, the exact words not quoted; these are Google's
#: standard words for the RESOURCE_EXHAUSTED status).
QUOTA_CLOSE = (1011, "RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).")
#: The HTTP answer of the ``"http"`` quota style.
QUOTA_HTTP_STATUS = HTTPStatus.TOO_MANY_REQUESTS


def backend_of(path: str) -> Backend:
    """The API of a connection's path: Vertex AI on ``LlmBidiService``, else the Gemini API."""
    return "vertex" if "LlmBidiService" in path else "gemini"


def check_quota_options(max_sessions: int | None, style: str) -> QuotaStyle:
    """The quota options checked: :class:`ConfigError` for a negative cap or an unknown style."""
    if max_sessions is not None and max_sessions < 0:
        raise ConfigError(f"max_sessions must be 0 or more (None: no cap), not {max_sessions}")
    for known in QUOTA_STYLES:
        if style == known:
            return known
    raise ConfigError(f"quota_style must be one of {', '.join(QUOTA_STYLES)}, not {style!r}")


def quota_http_body(max_sessions: int) -> str:
    """The body of the ``"http"`` style's 429: a Google API error object."""
    error = {
        "error": {
            "code": 429,
            "message": f"Resource has been exhausted (e.g. check quota): at most "
            f"{max_sessions} concurrent sessions",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    return json.dumps(error) + "\n"


def strip_rate(mime: str | None) -> str | None:
    """``audio/pcm;rate=24000`` as Vertex AI names it: ``audio/pcm`` (other types as they are)."""
    if mime is None or mime.partition(";")[0].strip().lower() != "audio/pcm":
        return mime
    return "audio/pcm"


@dataclasses.dataclass
class Shape:
    """One connection's backend: what its server messages look like on the wire.

    ``video`` is the avatar stream of a Vertex AI avatar session (``None``
    otherwise). ``session_id`` is the ``setupComplete.sessionId`` Vertex AI
    sends, new for each connection (whether Vertex keeps it across a
    resumption is not recorded).
    """

    backend: Backend = "gemini"
    video: AvatarVideo | None = None
    session_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def frames(self) -> Literal["binary"] | None:
        """The opcode every frame takes whatever the emulator's ``frames``: binary for an
        avatar (§10.10); ``None``: the emulator's choice."""
        return "binary" if self.video is not None else None

    def apply(self, message: t.LiveServerMessage) -> t.LiveServerMessage | None:
        """The message as this backend sends it; ``None``: this backend does not send it."""
        if self.video is not None and message.session_resumption_update is not None:
            return None  # no handles in avatar sessions (§10.10, §10.15.10)
        if self.backend != "vertex":
            return message
        changes: dict[str, object] = {}
        done = message.setup_complete
        if done is not None and done.session_id is None:
            changes["setup_complete"] = msgspec.structs.replace(done, session_id=self.session_id)
        content = message.server_content
        if content is not None and content.model_turn is not None:
            turn = content.model_turn
            parts = [
                p
                if p.inline_data is None
                or strip_rate(p.inline_data.mime_type) == p.inline_data.mime_type
                else msgspec.structs.replace(
                    p,
                    inline_data=msgspec.structs.replace(
                        p.inline_data, mime_type=strip_rate(p.inline_data.mime_type)
                    ),
                )
                for p in turn.parts or ()
            ]
            turn = msgspec.structs.replace(
                turn, role=turn.role or "model", parts=parts if turn.parts is not None else None
            )
            changes["server_content"] = msgspec.structs.replace(content, model_turn=turn)
        usage = message.usage_metadata
        if usage is not None and (
            usage.response_token_count is not None or usage.response_tokens_details is not None
        ):
            changes["usage_metadata"] = msgspec.structs.replace(
                usage,
                response_token_count=None,
                response_tokens_details=None,
                candidates_token_count=usage.candidates_token_count
                if usage.candidates_token_count is not None
                else usage.response_token_count,
                candidates_tokens_details=usage.candidates_tokens_details
                or usage.response_tokens_details,
            )
        return msgspec.structs.replace(message, **changes) if changes else message


def shape_for(path: str, setup: t.LiveClientSetup, model: Model) -> Shape:
    """The shape of a connection at ``path`` whose setup its model's row accepted.

    An avatar (video) stream only on Vertex AI, for a model that has one,
    when the setup asks for it (:func:`.avatar.wants_avatar`).
    """
    backend = backend_of(path)
    avatar = backend == "vertex" and model.avatar and wants_avatar(setup)
    return Shape(backend, AvatarVideo() if avatar else None)

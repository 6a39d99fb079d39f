"""A local Live API: validates like the real server, keeps sessions, resumes them.

The emulator is a :class:`~rawlive.server.LiveServer` that speaks
``BidiGenerateContent`` on 127.0.0.1 with no key and no network. This module
owns what a session is on the server side:

* **Validation** (``PROTOCOL.md`` §5.3): the first message must be a
  ``setup`` with a model the emulator knows, or the connection closes with
  the real code and reason shape (1007 invalid argument, 1008 model not
  found); ``responseModalities: ["TEXT"]`` on a native-audio model closes
  with 1007 as the real server does.
* **Conversation state**: every client message a session consumes is kept,
  in order, numbered from 1 across the session's connections
  (``lastConsumedClientMessageIndex`` counts the same way).
* **Resumption**: with ``sessionResumption`` in the setup, the emulator sends
  ``sessionResumptionUpdate`` handles (resumable only while no reply or tool
  call is in flight); a handle restores the session to the state it named,
  and an unknown one closes with 1008 ``BidiGenerateContent session not
  found``. Transparent mode adds ``lastConsumedClientMessageIndex``.
* **Connection lifetime**: after ``connection_lifetime`` seconds the
  connection ends; ``goAway`` is sent ``goaway_lead`` seconds before.
* **Faults** for tests: :meth:`Emulator.drop`, :meth:`Emulator.go_away` and
  :meth:`Emulator.close_with` act on live connections.

Replies: a ``realtimeInput.text`` or a completed ``clientContent`` turn gets
a model turn that says what the emulator received (it is not a model and
does not pretend to be one), then ``generationComplete``, ``turnComplete``
and ``usageMetadata``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from rawlive import codec
from rawlive import types as t
from rawlive.server import CLOSE_INVALID_ARGUMENT, LiveServer, Peer, SetupRejected

__all__ = ["KNOWN_MODELS", "EmulatedSession", "Emulator"]

log = logging.getLogger("rawlive.emulator")

#: Live models named in PROTOCOL.md; ``native`` ones answer in audio only.
KNOWN_MODELS: dict[str, bool] = {
    "gemini-3.1-flash-live-preview": True,
    "gemini-2.5-flash-native-audio-preview-12-2025": True,
    "gemini-2.5-flash-native-audio-preview-09-2025": True,
    "gemini-live-2.5-flash-native-audio": True,
    "gemini-live-2.5-flash-preview": False,
    "gemini-live-2.5-flash": False,
    "gemini-2.0-flash-live-001": False,
}


def model_id(model: str) -> str:
    """The bare model id of a Gemini (``models/x``) or Vertex model path."""
    return model.rsplit("/", 1)[-1]


@dataclasses.dataclass
class EmulatedSession:
    """One session's server-side state, shared by its connections."""

    id: str
    setup: t.LiveClientSetup
    #: Every client message consumed, in order (the conversation state).
    consumed: list[t.LiveClientMessage] = dataclasses.field(default_factory=list)
    connections: int = 0
    generating: bool = False
    pending_calls: set[str] = dataclasses.field(default_factory=set)

    @property
    def index(self) -> int:
        """Index of the last consumed client message (1-based; 0 = none)."""
        return len(self.consumed)


class Emulator(LiveServer):
    """The local Live API server (see the module docstring).

    ``models`` adds model ids to :data:`KNOWN_MODELS`. ``connection_lifetime``
    and ``goaway_lead`` are in seconds (``None``: no limit).
    ``resumption_interval`` sends a resumption update every that many
    consumed messages, besides one after each turn.
    """

    def __init__(
        self,
        *,
        models: Iterable[str] = (),
        connection_lifetime: float | None = None,
        goaway_lead: float = 60.0,
        resumption_interval: int = 20,
        **server_options: Any,
    ) -> None:
        super().__init__(**server_options)
        self.models = dict(KNOWN_MODELS)
        self.models.update({model_id(m): False for m in models})
        self.connection_lifetime = connection_lifetime
        self.goaway_lead = goaway_lead
        self.resumption_interval = max(1, resumption_interval)
        self.sessions: dict[str, EmulatedSession] = {}
        self._handles: dict[str, tuple[str, int]] = {}  # handle -> (session id, index)
        self._peers: dict[int, tuple[Peer, EmulatedSession]] = {}
        self._ids = itertools.count(1)

    # -- faults for tests -----------------------------------------------------

    def live_peers(self) -> list[tuple[Peer, EmulatedSession]]:
        return list(self._peers.values())

    def drop(self) -> None:
        """Abort every live connection with no close frame (clients see 1006)."""
        for peer, _ in self.live_peers():
            peer.abort()

    async def go_away(self, time_left: float) -> None:
        """Send ``goAway`` to every live connection, then end each after ``time_left``."""
        for peer, _ in self.live_peers():
            await self._go_away(peer, time_left)

    async def close_with(self, code: int, reason: str) -> None:
        """Close every live connection with this code and reason."""
        for peer, _ in self.live_peers():
            await peer.close(code, reason)

    async def _go_away(self, peer: Peer, time_left: float) -> None:
        await peer.send(
            t.LiveServerMessage(go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=time_left)))
        )
        asyncio.get_running_loop().call_later(
            time_left,
            lambda: asyncio.ensure_future(peer.close(1000, "connection lifetime reached")),
        )

    # -- a connection ---------------------------------------------------------

    async def session(self, peer: Peer) -> None:
        setup = await peer.read_setup()
        session = await self._admit(peer, setup)
        session.connections += 1
        self._peers[id(peer)] = (peer, session)
        lifetime = self._schedule_lifetime(peer)
        try:
            await peer.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
            async for payload in peer:
                message = codec.decode_client_message(payload)
                if message.setup is not None:
                    await peer.close(*CLOSE_INVALID_ARGUMENT)
                    return
                await self._consume(peer, session, message)
        finally:
            self._peers.pop(id(peer), None)
            for handle in lifetime:
                handle.cancel()

    async def _admit(self, peer: Peer, setup: t.LiveClientSetup) -> EmulatedSession:
        model = setup.model or ""
        native = self.models.get(model_id(model))
        if native is None:
            await peer.close(
                1008,
                f"{model} is not found for API version v1beta, or is not supported for "
                "bidiGenerateContent. Call ListModels to see the list of available models "
                "and their supported methods.",
            )
            raise SetupRejected(f"unknown model {model}")
        modalities = (setup.generation_config or t.GenerationConfig()).response_modalities
        if native and modalities and "TEXT" in modalities:
            await peer.close(*CLOSE_INVALID_ARGUMENT)
            raise SetupRejected("TEXT response modality on a native-audio model")
        resumption = setup.session_resumption
        if resumption is not None and resumption.handle:
            found = self._handles.get(resumption.handle)
            if found is None:
                await peer.close(1008, "BidiGenerateContent session not found")
                raise SetupRejected("unknown resumption handle")
            session_id, index = found
            session = self.sessions[session_id]
            # Restore the state the handle named; what followed is forgotten.
            del session.consumed[index:]
            session.setup = setup
            session.generating = False
            return session
        session = EmulatedSession(id=f"emulated-{next(self._ids)}", setup=setup)
        self.sessions[session.id] = session
        return session

    def _schedule_lifetime(self, peer: Peer) -> list[asyncio.TimerHandle]:
        if self.connection_lifetime is None:
            return []
        loop = asyncio.get_running_loop()
        lead = min(self.goaway_lead, self.connection_lifetime)
        return [
            loop.call_later(
                self.connection_lifetime - lead,
                lambda: asyncio.ensure_future(self._go_away(peer, lead)),
            )
        ]

    async def _consume(
        self, peer: Peer, session: EmulatedSession, message: t.LiveClientMessage
    ) -> None:
        session.consumed.append(message)
        if message.tool_response is not None:
            for response in message.tool_response.function_responses or ():
                session.pending_calls.discard(response.id or "")
        prompt = _prompt_text(message)
        if prompt is not None:
            await self._reply(peer, session, prompt)
        elif session.index % self.resumption_interval == 0:
            await self._resumption_update(peer, session)

    async def _reply(self, peer: Peer, session: EmulatedSession, prompt: str) -> None:
        session.generating = True
        await self._resumption_update(peer, session)  # not resumable while generating
        text = f"[rawlive emulator] received: {prompt}"
        await peer.send(
            t.LiveServerMessage(
                server_content=t.LiveServerContent(
                    model_turn=t.Content(role=None, parts=[t.Part(text=text)])
                )
            )
        )
        await peer.send(
            t.LiveServerMessage(server_content=t.LiveServerContent(generation_complete=True))
        )
        tokens = max(1, len(text) // 4)
        session.generating = False
        await peer.send(
            t.LiveServerMessage(
                server_content=t.LiveServerContent(turn_complete=True),
                usage_metadata=t.UsageMetadata(
                    prompt_token_count=max(1, len(prompt) // 4),
                    response_token_count=tokens,
                    total_token_count=max(1, len(prompt) // 4) + tokens,
                    prompt_tokens_details=[
                        t.ModalityTokenCount(modality="TEXT", token_count=max(1, len(prompt) // 4))
                    ],
                    response_tokens_details=[
                        t.ModalityTokenCount(modality="TEXT", token_count=tokens)
                    ],
                ),
            )
        )
        await self._resumption_update(peer, session)

    async def _resumption_update(self, peer: Peer, session: EmulatedSession) -> None:
        resumption = session.setup.session_resumption
        if resumption is None:
            return
        resumable = not session.generating and not session.pending_calls
        update = t.LiveServerSessionResumptionUpdate(resumable=resumable, new_handle="")
        if resumable:
            handle = secrets.token_urlsafe(12)
            self._handles[handle] = (session.id, session.index)
            update.new_handle = handle
            if resumption.transparent:
                update.last_consumed_client_message_index = session.index
        await peer.send(t.LiveServerMessage(session_resumption_update=update))


def _prompt_text(message: t.LiveClientMessage) -> str | None:
    """The text of a message that completes a user turn, if it does."""
    realtime = message.realtime_input
    if realtime is not None and realtime.text is not None:
        return realtime.text
    content = message.client_content
    if content is not None and content.turn_complete:
        texts = [
            part.text
            for turn in content.turns or ()
            for part in turn.parts or ()
            if part.text is not None
        ]
        return " ".join(texts)
    return None

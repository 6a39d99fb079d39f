"""The decision after a close or a goAway (rawlive.core.closing), without a socket."""

from __future__ import annotations

import dataclasses

import pytest
from websockets.frames import Close

from rawlive.core.closing import (
    FATAL_CLOSE_CODES,
    After,
    FirstClose,
    Side,
    after_close,
    after_go_away,
    close_hint,
    first_close,
    resume_again,
    retry_resume,
)


@pytest.mark.parametrize(
    ("code", "resumable", "going_away", "expected"),
    [
        # A normal close ends the session, unless a goAway announced it.
        (1000, False, False, After.DONE),
        (1000, True, False, After.DONE),
        (1000, True, True, After.RESUME_NOW),
        (1000, False, True, After.FAIL),
        # Going away: nothing to resume without resumption.
        (1001, False, False, After.DONE),
        (1001, True, False, After.RESUME_NOW),
        # A drop or a server error: resume when possible.
        (1006, True, False, After.RESUME_NOW),
        (None, True, False, After.RESUME_NOW),
        (1011, True, True, After.RESUME_NOW),
        (1006, False, False, After.FAIL),
        (1011, False, False, After.FAIL),
        (None, False, False, After.FAIL),
        # The same setup would be refused again.
        (1007, True, False, After.FATAL),
        (1008, True, True, After.FATAL),
        (1008, False, False, After.FATAL),
    ],
)
def test_after_close(code: int | None, resumable: bool, going_away: bool, expected: After) -> None:
    decision = after_close(code, "", resumable=resumable, going_away=going_away)
    assert decision.after is expected


def test_a_failed_close_carries_its_hint() -> None:
    decision = after_close(
        1008, "BidiGenerateContent session not found", resumable=True, going_away=False
    )
    assert decision.after is After.FATAL
    assert decision.hint is not None and "handle" in decision.hint
    assert after_close(1000, "", resumable=False, going_away=False).hint is None


def test_close_hints_prefer_the_reason_then_the_code() -> None:
    assert "overloaded" in (close_hint(1011, "The service is currently unavailable.") or "")
    assert "server error" in (close_hint(1011, "something else") or "")
    assert close_hint(4000, "") is None


def test_go_away_on_an_idle_session_resumes_now() -> None:
    decision = after_go_away(resumable=True, idle=True, now=0.0, deadline=10.0, margin=2.0)
    assert decision.after is After.RESUME_NOW


@pytest.mark.parametrize(
    ("now", "deadline", "margin", "at"),
    [(0.0, 10.0, 2.0, 8.0), (0.0, 2.0, 2.0, 1.0), (5.0, 4.0, 2.0, 4.0)],
    ids=["margin", "half-the-time-left", "deadline-passed"],
)
def test_go_away_on_a_busy_session_resumes_before_the_deadline(
    now: float, deadline: float, margin: float, at: float
) -> None:
    decision = after_go_away(resumable=True, idle=False, now=now, deadline=deadline, margin=margin)
    assert decision.after is After.RESUME_LATER and decision.at == at


def test_go_away_without_resumption_waits() -> None:
    for idle in (True, False):
        decision = after_go_away(resumable=False, idle=idle, now=0.0, deadline=1.0, margin=0.5)
        assert decision.after is After.WAIT


def test_resume_attempts_and_loops() -> None:
    assert all(not retry_resume(code) for code in FATAL_CLOSE_CODES)
    assert retry_resume(1011) and retry_resume(None)
    assert resume_again(2, 3) and not resume_again(3, 3)


@dataclasses.dataclass
class Handshake:
    """A closing handshake as ``websockets``' ``ws.protocol`` holds it."""

    close_rcvd: Close | None = None
    close_sent: Close | None = None
    close_rcvd_then_sent: bool | None = None


BYE = Close(1000, "bye")
FAULT = Close(1011, "Internal error occurred.")


@pytest.mark.parametrize(("local", "peer"), [("client", "server"), ("server", "client")])
def test_the_first_close_frame_names_who_closed_whichever_side_asks(
    local: Side, peer: Side
) -> None:
    # Received, not answered yet; received then answered: the peer closed.
    assert first_close(Handshake(FAULT), local) == FirstClose(peer, 1011, FAULT.reason)
    answered = Handshake(FAULT, Close(1011, ""), close_rcvd_then_sent=True)
    assert first_close(answered, local) == FirstClose(peer, 1011, FAULT.reason)
    # Sent, not answered yet; sent then answered: this side closed, with its own
    # code and reason, whatever the answer said.
    assert first_close(Handshake(None, BYE), local) == FirstClose(local, 1000, "bye")
    echoed = Handshake(FAULT, BYE, close_rcvd_then_sent=False)
    assert first_close(echoed, local) == FirstClose(local, 1000, "bye")
    # No close frame either way: dropped, as 1006 says.
    assert first_close(Handshake(), local) == FirstClose(None, 1006, "")


@pytest.mark.parametrize(
    ("code", "reason", "says"),
    [
        (1007, "Avatar config is required for avatar mode", "avatarConfig"),
        (
            1007,
            "The requested combination of response modalities (AUDIO, VIDEO) is not supported",
            "AUDIO alone",
        ),
        (1007, "The 'proactive' feature is not supported for model 'x'", "proactivity"),
        (
            1007,
            "Invalid JSON payload received. Unknown name \"enable_affective_dialog\" at 'setup'",
            "enableAffectiveDialog",
        ),
        (
            1007,
            'Invalid JSON payload received. Unknown name "thinking_config" at '
            "'setup.generation_config': Cannot find field.",
            "thinkingConfig",
        ),
        (
            1007,
            "Unknown name \"inputAudioTranscription\" at 'setup.generation_config'",
            "move it up to setup",
        ),
        (1007, "Unknown name \"foo\" at 'setup'", "schema does not have"),
        (1007, "Mime type 'image/jpeg' is not supported. Either use 'audio/pcm", "audio only"),
        (
            1008,
            "policy violation: Avatar reference image was blocked by safety policy",
            "another image",
        ),
        (1011, "Deadline expired before operation could complete.", "58:00"),
        (1011, "RESOURCE_EXHAUSTED: too many sessions", "quota"),
        (1008, "Quota exceeded for aiplatform.googleapis.com", "quota"),
        (1008, "BidiGenerateContent session not found", "handle"),
        (1007, "Request contains an invalid argument.", "second setup"),
    ],
)
def test_close_hints_for_the_2026_closes(code: int, reason: str, says: str) -> None:
    """PROTOCOL.md §10.14's closes each have a hint that says what to do."""
    hint = close_hint(code, reason)
    assert hint is not None and says in hint, hint

"""The core's session rules, fed plain values and times: no socket, no server."""

from __future__ import annotations

import dataclasses

import pytest
from websockets.frames import Close

from rawlive.core.closing import FirstClose, Side, first_close


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

"""Canonical comparison of client frames, for the tests that compare rawlive's with the SDK's.

The SDK sends mixed casing and URL-safe base64; rawlive sends camelCase and
standard base64. Both mean the same to the server's proto3 JSON parser, so
frames are compared after the package's own :func:`rawlive.wire.codec.canonical`
(the conformance rules), with the replay's :func:`rawlive.servers.replay.differences`
naming what differs. ``test_conformance_client`` checks ``canonical`` against the
canonical frames each conformance vector ships, an independent oracle.
"""

from __future__ import annotations

from typing import Any

from rawlive.servers.replay import differences
from rawlive.wire.codec import canonical


def assert_canonically_equal(expected: Any, actual: Any, what: str = "frame") -> None:
    """Fail with one line per difference unless the two (raw, parsed) frames mean the same."""
    found = differences(canonical(expected), canonical(actual))
    if found:
        raise AssertionError(f"{what} differs canonically:\n  " + "\n  ".join(map(str, found)))

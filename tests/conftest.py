"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import settings

# Hypothesis profiles. ``ci`` (the default, what `make test` runs) is bounded
# and derandomized: every run tries the same examples, so a red CI run is red
# again on a laptop and a green one cannot turn red by luck. ``fuzz`` (what
# `make fuzz` runs, HYPOTHESIS_PROFILE=fuzz) is long and random, with no
# deadline, and keeps what it finds in the local example database (.hypothesis/)
# so that a failure replays first on the next run; its blob reproduces it anywhere.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile(
    "fuzz", max_examples=4_000, deadline=None, print_blob=True, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pathlib.Path]:
    """A trustme CA file and a server PEM (key and chain) for 127.0.0.1."""
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, server_pem = folder / "ca.pem", folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return ca_file, server_pem

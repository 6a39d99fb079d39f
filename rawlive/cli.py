"""The ``rawlive`` command line: a click group; each use adds its command here.

Commands stay thin: they parse options, call the library and print. Logic a
library user would need lives in the library, not here.
"""

from __future__ import annotations

import click

from rawlive import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rawlive")
def main() -> None:
    """Speak the Gemini Live API directly over a WebSocket."""

"""``python -m rawlive``: the same as the ``rawlive`` command."""

from rawlive.cli import main

main()

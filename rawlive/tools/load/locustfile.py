"""The locustfile ``rawlive load`` runs: one :class:`~rawlive.load.LiveUser`, set by ``--live-*``.

``locust -f`` takes it like any locustfile (its path is
``rawlive.tools.load.LOCUSTFILE``).
"""

from rawlive.tools.load.user import LiveUser


class Caller(LiveUser):
    """The file or cassette, model and endpoint of the command line's ``--live-*`` options."""

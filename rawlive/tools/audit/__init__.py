"""Audit a recorded Live session: protocol rules, schema drift and latency metrics.

:func:`audit_cassette` reads a cassette and returns a :class:`Report`
(:meth:`Report.render` for tables); :class:`LiveAudit` audits connections as
a proxy forwards them; :func:`diff_reports` compares two sessions. The
modules, by reason to change: :mod:`~rawlive.tools.audit.rules` (the rules),
:mod:`~rawlive.tools.audit.auditor` (feeding events), :mod:`~rawlive.tools.audit.waits`
(the rules of a server that misbehaves: stalls, empty and cut replies, unanswered
input, turns ended too soon), :mod:`~rawlive.tools.audit.metrics`,
:mod:`~rawlive.tools.audit.render` (text), :mod:`~rawlive.tools.audit.live`
and :mod:`~rawlive.tools.audit.diff`. ``rawlive.audit`` is this package
(where :class:`Turn` and :class:`DriftEntry`, parts of a :class:`Report`, are
found too, as before the split).
"""

from rawlive.tools.audit.auditor import MAX_FINDINGS_PER_RULE, Auditor, Report, audit_cassette
from rawlive.tools.audit.auditor import DriftEntry as DriftEntry
from rawlive.tools.audit.diff import Diff, diff_reports
from rawlive.tools.audit.live import LiveAudit
from rawlive.tools.audit.metrics import Metrics
from rawlive.tools.audit.metrics import Turn as Turn
from rawlive.tools.audit.rules import RULES, SEVERITIES, Finding, Rule, Step, rule

__all__ = [
    "MAX_FINDINGS_PER_RULE",
    "RULES",
    "SEVERITIES",
    "Auditor",
    "Diff",
    "Finding",
    "LiveAudit",
    "Metrics",
    "Report",
    "Rule",
    "Step",
    "audit_cassette",
    "diff_reports",
    "rule",
]

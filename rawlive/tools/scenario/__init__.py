"""Scenario tests for voice agents: say what a conversation must do, check it anywhere.

A :class:`Scenario` (user turns as audio files, text, speech made from text,
pauses; tools with canned or Python handlers; expectations per turn) runs
against Gemini, the emulator or a cassette with :func:`run_scenario`; the
:class:`ScenarioRun` it returns carries the expectations
(``run.turn(1).expect_tool_call("get_weather", args_subset={"city": "Paris"})``)
and :class:`ScenarioResult` the result as JSON. The modules:
:mod:`~rawlive.tools.scenario.model` (the format, :func:`load_scenario`),
:mod:`~rawlive.tools.scenario.run` (the runner),
:mod:`~rawlive.tools.scenario.expect` (the expectations and results) and
:mod:`~rawlive.tools.scenario.table` (many runs summed up). The README's
"Test a conversation: ``rawlive scenario``" is the reference.
"""

from rawlive.tools.scenario.expect import (
    ScenarioFailed,
    ScenarioResult,
    ScenarioRun,
    ToolCallRecord,
    ToolResponseRecord,
    TurnCheck,
    TurnRun,
    report_command,
)
from rawlive.tools.scenario.model import (
    Expect,
    ExpectToolCall,
    Scenario,
    ScenarioConfig,
    ScenarioExpect,
    ToolSpec,
    Turn,
    load_scenario,
)
from rawlive.tools.scenario.run import (
    SpeechFunction,
    ToolHandler,
    run_scenario,
    run_scenario_sync,
)
from rawlive.tools.scenario.table import ScenarioSummary, render_table, summarize

__all__ = [
    "Expect",
    "ExpectToolCall",
    "Scenario",
    "ScenarioConfig",
    "ScenarioExpect",
    "ScenarioFailed",
    "ScenarioResult",
    "ScenarioRun",
    "ScenarioSummary",
    "SpeechFunction",
    "ToolCallRecord",
    "ToolHandler",
    "ToolResponseRecord",
    "ToolSpec",
    "Turn",
    "TurnCheck",
    "TurnRun",
    "load_scenario",
    "render_table",
    "report_command",
    "run_scenario",
    "run_scenario_sync",
    "summarize",
]

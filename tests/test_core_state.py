"""The role-agnostic session state (rawlive.core.state), fed messages and times: no socket."""

from __future__ import annotations

from rawlive.core.state import UsageTotals
from rawlive.wire import types as t


def _usage(prompt: int, modality: str | None, response: int) -> t.UsageMetadata:
    return t.UsageMetadata(
        prompt_token_count=prompt,
        response_token_count=response,
        total_token_count=prompt + response,
        prompt_tokens_details=[t.ModalityTokenCount(modality=modality, token_count=prompt)],
        response_tokens_details=[t.ModalityTokenCount(modality="AUDIO", token_count=response)],
    )


def test_usage_totals_merge_as_if_one_had_taken_every_report() -> None:
    """A session's totals from its connections' (the report keeps one state per connection)."""
    reports = [_usage(10, "AUDIO", 4), _usage(3, None, 2), _usage(5, "TEXT", 1)]
    one = UsageTotals()
    for usage in reports:
        one.add(usage)
    first, second = UsageTotals(), UsageTotals()
    first.add(reports[0])
    second.add(reports[1])
    second.add(reports[2])
    merged = UsageTotals()
    merged.merge(first)
    merged.merge(second)
    assert merged == one
    assert merged.prompt_by_modality == {"AUDIO": 10, "MODALITY_UNSPECIFIED": 3, "TEXT": 5}
    assert (merged.reports, merged.total_tokens) == (3, 25)
    assert first.prompt_by_modality == {"AUDIO": 10}  # what was merged is left as it was

"""The replay policies frame by frame: what each one calls a difference and how it says so.

Pure functions, no server: :func:`rawlive.servers.replay.differences`,
:func:`rawlive.servers.replay.canonical`, the ``strict`` and ``semantic`` matchers
and the text of a :class:`rawlive.servers.replay.Mismatch`.
"""

from __future__ import annotations

import pytest

from rawlive.servers.replay import (
    MATCHERS,
    MISSING,
    Clipped,
    Difference,
    Mismatch,
    SemanticMatcher,
    canonical,
    differences,
)

STRICT = MATCHERS["strict"]
SEMANTIC = MATCHERS["semantic"]


def test_a_missing_and_an_unexpected_key_are_named_with_their_values() -> None:
    found = differences({"a": 1, "b": {"c": 2}}, {"b": {"c": 2, "d": [3]}, "e": "x"})
    assert found == [
        Difference("a", 1, MISSING),
        Difference("b.d", MISSING, [3]),
        Difference("e", MISSING, "x"),
    ]
    assert [str(d) for d in found] == [
        "a: missing (expected 1)",
        "b.d: unexpected [3]",
        "e: unexpected 'x'",
    ]


def test_lists_of_different_lengths_name_each_extra_or_missing_item() -> None:
    assert differences([1, 2, 3], [1, 5]) == [
        Difference("[1]", 2, 5),
        Difference("[2]", 3, MISSING),
    ]
    assert differences({"xs": [1]}, {"xs": [1, 2, 3]}) == [
        Difference("xs[1]", MISSING, 2),
        Difference("xs[2]", MISSING, 3),
    ]


def test_a_value_of_another_type_differs_even_when_equal_in_python() -> None:
    assert differences(1, True) == [Difference("", 1, True)]
    assert str(Difference("", "a", "b")) == "(frame): got 'b', expected 'a'"


def test_long_values_and_bytes_are_shortened_in_the_text() -> None:
    text = str(Difference("p", "x" * 100, b"\x00" * 4000))
    assert "bytes sha256:" in text and "<4000 bytes" in text
    assert "'" + "x" * 56 + "..." in text and "x" * 57 not in text


def test_canonical_numbers_compare_by_value_and_bools_are_not_numbers() -> None:
    assert canonical({"a": 40}) == canonical({"a": 40.0})
    assert canonical({"a": 0.5}) != canonical({"a": 0.25})
    assert canonical({"a": True}) != canonical({"a": 1})


def test_canonical_keeps_user_data_keys_and_normalises_its_numbers() -> None:
    frame = {
        "tool_response": {
            "function_responses": [{"id": "1", "response": {"snake_key": [1.0, {"n": 2}]}}]
        },
        "labels": {"my_label": "v"},
    }
    assert canonical(frame) == canonical(
        {
            "toolResponse": {
                "functionResponses": [{"id": "1", "response": {"snake_key": [1, {"n": 2.0}]}}]
            },
            "labels": {"my_label": "v"},
        }
    )
    assert "snake_key" in str(canonical(frame))


def test_canonical_schema_property_names_stay_as_written() -> None:
    setup = {"tools": [{"parameters": {"properties": {"city_name": {"type": "STRING"}}}}]}
    assert canonical(setup)["tools"][0]["parameters"]["properties"] == {
        "city_name": {"type": "STRING"}
    }


def test_base64_compares_as_bytes_whatever_the_alphabet_and_padding() -> None:
    standard = b'{"realtimeInput":{"audio":{"data":"+/+/","mimeType":"audio/pcm"}}}'
    urlsafe = b'{"realtimeInput":{"audio":{"data":"-_-_","mimeType":"audio/pcm"}}}'
    assert STRICT.compare(standard, urlsafe) == []
    not_base64 = b'{"realtimeInput":{"audio":{"data":"not base64!","mimeType":"audio/pcm"}}}'
    (difference,) = STRICT.compare(standard, not_base64)
    assert difference.path == "realtimeInput.audio.data" and difference.got == "not base64!"


def test_a_frame_that_is_not_json_is_compared_as_text() -> None:
    assert STRICT.compare(b"hello", b"{not json") == [Difference("", "hello", "{not json")]
    # Semantic falls back to the same when a side is no valid client message.
    assert SEMANTIC.compare(b'{"setup":{"model":"m"}}', b"{not json") == [
        Difference("", {"setup": {"model": "m"}}, "{not json")
    ]


def test_semantic_reports_unknown_fields_by_path() -> None:
    found = SEMANTIC.compare(
        b'{"realtimeInput":{"text":"a"}}', b'{"realtimeInput":{"text":"a","madeUp":1}}'
    )
    assert found == [Difference("(unknown fields)", MISSING, ["realtimeInput.madeUp"])]


def test_semantic_audio_recognises_only_frames_that_are_audio_alone() -> None:
    camel = b'{"realtimeInput":{"audio":{"data":"AAAAAA==","mimeType":"audio/pcm;rate=16000"}}}'
    assert SEMANTIC.audio(camel) == ("audio/pcm;rate=16000", 4)
    snake = b'{"realtime_input":{"audio":{"data":"AAAAAA==","mime_type":"audio/pcm"}}}'
    assert SEMANTIC.audio(snake) == ("audio/pcm", 4)
    assert SEMANTIC.audio(b'{"realtime_input":{"text":"audio"}}') is None
    assert SEMANTIC.audio(b'{"realtime_input":{"audio":{"data":"AA=="}},"setup":{}}') is None
    assert SEMANTIC.audio(b"not json at all, audio_") is None
    assert SEMANTIC.audio(b'{"clientContent":{}}') is None
    assert STRICT.audio(camel) is None


def test_the_audio_tolerance_is_a_chunk_unless_fixed() -> None:
    assert SEMANTIC.tolerance(1280) == 1279
    assert SEMANTIC.tolerance(0) == 0
    assert SemanticMatcher(audio_tolerance=10).tolerance(1280) == 10
    assert STRICT.tolerance(1280) == 0


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        (None, '{"realtimeInput":{"text":"a"}}'),
        ('{"realtimeInput":{"text":"a"}}', None),
    ],
)
def test_a_mismatch_reads_as_a_report_with_both_frames(
    expected: str | None, got: str | None
) -> None:
    mismatch = Mismatch(
        connection=2,
        index=3,
        differences=[Difference("realtimeInput.text", "a", MISSING)],
        expected=expected,
        got=got,
        policy="semantic",
    )
    lines = str(mismatch).splitlines()
    assert lines[0] == "replay mismatch (semantic) at client message 3 of connection 2:"
    assert lines[1] == "  realtimeInput.text: missing (expected 'a')"
    assert len(lines) == 3
    assert lines[2].startswith("  expected frame: " if expected else "  received frame: ")
    assert mismatch.reason == "replay mismatch: realtimeInput.text: missing (expected 'a')"


def test_a_long_frame_is_clipped_in_the_report() -> None:
    frame = '{"realtimeInput":{"text":"' + "y" * 1000 + '"}}'
    mismatch = Mismatch(1, 1, [Difference("", 1, 2)], frame, None, "strict")
    assert f"... ({len(frame)} characters)" in str(mismatch)


def test_a_mismatch_keeps_a_bounded_diff_that_reads_as_the_full_one() -> None:
    """Large values become what a report shows of them; the report reads the same."""
    text, data = "y" * 100_000, bytes(range(256)) * 400
    nested = {"parts": [{"text": text}]}
    full = [
        Difference("a.text", text, "x"),
        Difference("a.data", data, b""),
        Difference("a.content", nested, MISSING),
    ]
    mismatch = Mismatch(1, 1, list(full), "f" * 100_000, "g", "strict")
    assert [str(d) for d in mismatch.differences] == [str(d) for d in full]
    assert [d.path for d in mismatch.differences] == ["a.text", "a.data", "a.content"]
    kept = [d.expected for d in mismatch.differences]
    assert all(isinstance(value, Clipped) for value in kept)
    assert sum(len(repr(value)) for value in kept) < 1000
    assert mismatch.expected is not None and len(mismatch.expected) < 400
    assert mismatch.expected.endswith("... (100000 characters)") and mismatch.got == "g"
    assert str(Mismatch(**vars(mismatch))) == str(mismatch)  # kept as it is the second time


def test_a_mismatch_keeps_its_first_differences_and_counts_the_rest() -> None:
    found = [Difference(f"a[{i}]", i, -i) for i in range(50)]
    mismatch = Mismatch(1, 1, found, None, None, "strict")
    assert mismatch.differences == found[:20] and mismatch.omitted == 30
    assert str(mismatch).splitlines()[-1] == "  ... and 30 more difference(s)"
    assert mismatch.first == found[0]

"""Studio text documents and storyboards: bounds, the revision rule, legacy import, export."""

from __future__ import annotations

import json

import pytest

from shared.engine.errors import AppError, ErrorKind
from shared.media.studio import documents, storyboards
from shared.media.studio.documents import MAX_CONTENT_BYTES


def _doc(content: str = "hello", revision: int = 3) -> documents.TextDocument:
    return documents.TextDocument(
        asset_id="a1", project_id="p1", title="Notes", content=content, revision=revision
    )


def _patch(**body: object) -> documents.TextDocumentPatch:
    return documents.parse_patch({"assetId": "a1", **body})


def _raises(kind: ErrorKind, fn, *args, **kwargs) -> AppError:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError) as info:
        fn(*args, **kwargs)
    assert info.value.kind is kind, info.value
    return info.value


def test_create_then_patch_bumps_revision_and_keeps_the_original():
    body = documents.parse_create({"projectId": "p1", "title": "Notes", "content": "v1"})
    first = documents.new_document(asset_id="a1", body=body)
    assert (first.revision, first.mime_type, first.etag) == (1, "text/plain", '"r1"')
    second = documents.apply_patch(first, _patch(content="v2", revision=1))
    assert (second.content, second.revision, second.title) == ("v2", 2, "Notes")
    assert first.content == "v1" and first.revision == 1
    assert second.public()["sizeBytes"] == 2 and second.public()["etag"] == '"r2"'


def test_stale_revision_is_a_conflict_and_leaves_the_text_untouched():
    current = _doc("keep me", revision=5)
    error = _raises(
        ErrorKind.CONFLICT, documents.apply_patch, current, _patch(content="x", revision=4)
    )
    assert error.details == {"code": "revision_conflict", "currentRevision": 5, "etag": '"r5"'}
    assert current.content == "keep me" and current.revision == 5
    _raises(
        ErrorKind.CONFLICT, documents.apply_patch, current, _patch(content="x"), expected_revision=6
    )


def test_a_retried_write_that_changes_nothing_answers_as_applied():
    current = _doc("same", revision=7)
    assert documents.apply_patch(current, _patch(content="same", revision=6)) is current


@pytest.mark.parametrize(
    ("header", "holds"),
    [
        ('"r3"', True),
        ("*", True),
        (' "r1" , "r3"', True),
        (', ,"r3",', True),
        ('W/"r3"', False),  # If-Match compares strongly
        ('"r2"', False),
        ('"r1", W/"r3"', False),
        ('"r3,x", "r9"', False),  # a comma inside an opaque tag is part of it
    ],
)
def test_if_match_forms(header: str, holds: bool):
    current = _doc(revision=3)
    if holds:
        assert documents.apply_patch(current, _patch(content="new"), if_match=header).revision == 4
    else:
        _raises(
            ErrorKind.CONFLICT,
            documents.apply_patch,
            current,
            _patch(content="new"),
            if_match=header,
        )


@pytest.mark.parametrize(
    "header", ["", "r3", '"r3" "r4"', "W/r3", '"unterminated', " , ", "x" * 9000]
)
def test_malformed_if_match_is_invalid(header: str):
    _raises(
        ErrorKind.INVALID, documents.apply_patch, _doc(), _patch(content="new"), if_match=header
    )


def test_body_revision_and_if_match_must_both_hold():
    _raises(
        ErrorKind.CONFLICT,
        documents.apply_patch,
        _doc(revision=3),
        _patch(content="n", revision=3),
        if_match='"r2"',
    )


def test_content_cap_counts_utf8_bytes():
    at_cap = "a" * MAX_CONTENT_BYTES
    assert documents.parse_create({"projectId": "p", "title": "t", "content": at_cap})
    _raises(ErrorKind.TOO_LARGE, documents.parse_patch, {"assetId": "a", "content": at_cap + "a"})
    euros = "€" * (MAX_CONTENT_BYTES // 3 + 1)  # fewer characters than the cap, more bytes
    assert len(euros) < MAX_CONTENT_BYTES
    error = _raises(
        ErrorKind.TOO_LARGE,
        documents.parse_create,
        {"projectId": "p", "title": "t", "content": euros},
    )
    assert error.message.startswith("content:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"projectId": "p", "title": "t", "owner": "x"}, "owner"),
        ({"projectId": "p", "title": ""}, "title"),
        ({"projectId": "p", "title": "t" * 121}, "title"),
        ({"projectId": "p/q", "title": "t"}, "projectId"),
        ({"projectId": "p", "title": "t", "content": 5}, "content"),
        ({"projectId": "p", "title": "t", "mimeType": "not a mime"}, "mimeType"),
        ({"projectId": "p", "title": "t", "content": "\ud800"}, "content"),
        ({"title": "t"}, "projectId"),
    ],
)
def test_bad_create_bodies_are_invalid_naming_the_field(body: dict, field: str):
    error = _raises(ErrorKind.INVALID, documents.parse_create, body)
    assert error.message.startswith(f"{field}:"), error.message


@pytest.mark.parametrize(
    "body",
    [
        {"assetId": "a1", "content": "x", "etag": "r1"},
        {"assetId": "a1", "content": "x", "revision": 0},
        {"assetId": "a1", "content": "x", "revision": "3"},
        {"assetId": "a1", "content": "x", "revision": True},
        {"assetId": "a1"},
        ["not", "an", "object"],
    ],
)
def test_bad_patch_bodies_are_invalid(body: object):
    _raises(ErrorKind.INVALID, documents.parse_patch, body)


# --- storyboards ------------------------------------------------------------------------------

BOARD = {
    "version": 2,
    "logline": "A [hero] *returns*",
    "scenes": [
        {
            "id": "s1",
            "title": "Dawn #1",
            "description": "City wakes.\n\n    indented\n# not a heading",
            "shots": [
                {
                    "id": "s1a",
                    "prompt": "Wide shot of a tower",
                    "durationSeconds": 4,
                    "camera": "dolly-in",
                    "referenceAssetIds": ["img1"],
                },
                {
                    "id": "s1b",
                    "prompt": "![x](https://evil.example/p.png) <script>",
                    "notes": "1. no",
                },
            ],
        }
    ],
}

GOLDEN = """\
# My \\*film\\*

_A \\[hero\\] \\*returns\\*_

1 scenes, 2 shots, 4s

## Scene 1: Dawn \\#1

City wakes\\.

indented\\
\\# not a heading

### Shot 1.1 (4s)

Wide shot of a tower

**Camera:** dolly\\-in

**References:** `img1`

### Shot 1.2

\\!\\[x\\]\\(https\\://evil\\.example/p\\.png\\) \\<script\\>

**Notes:** 1\\. no
"""


def test_storyboard_create_patch_and_conflict():
    body = storyboards.parse_create({"projectId": "p1", "title": "Film", "storyboard": BOARD})
    first = storyboards.new_storyboard(asset_id="b1", body=body)
    assert first.revision == 1 and first.storyboard.scenes[0].shots[0].duration_seconds == 4.0
    empty = storyboards.parse_patch({"assetId": "b1", "storyboard": {"version": 2}, "revision": 1})
    second = storyboards.apply_patch(first, empty)
    assert second.revision == 2 and second.storyboard.scenes == []
    assert len(first.storyboard.scenes) == 1
    _raises(ErrorKind.CONFLICT, storyboards.apply_patch, second, body_patch(BOARD), if_match='"r1"')


def body_patch(board: dict) -> storyboards.StoryboardPatch:
    return storyboards.parse_patch({"assetId": "b1", "storyboard": board})


@pytest.mark.parametrize(
    ("board", "field"),
    [
        ({"version": 1}, "storyboard.version"),
        ({"version": 2, "extra": 1}, "storyboard.extra"),
        (
            {
                "version": 2,
                "scenes": [{"id": "s", "title": "t", "shots": [{"id": "s", "prompt": ""}]}],
            },
            "storyboard",
        ),
        ({"version": 2, "scenes": [{"id": "a b", "title": "t"}]}, "storyboard.scenes.0.id"),
        (
            {
                "version": 2,
                "scenes": [
                    {
                        "id": "s",
                        "title": "t",
                        "shots": [{"id": "x", "prompt": "p", "durationSeconds": -1}],
                    }
                ],
            },
            "storyboard.scenes.0.shots.0.durationSeconds",
        ),
    ],
)
def test_bad_storyboards_are_invalid_naming_the_field(board: dict, field: str):
    error = _raises(
        ErrorKind.INVALID, storyboards.parse_patch, {"assetId": "b1", "storyboard": board}
    )
    assert error.message.startswith(field), error.message


def test_oversized_storyboard_is_too_large():
    shot = {"id": "x", "prompt": "€" * 4000}
    board = {
        "version": 2,
        "scenes": [{"id": f"s{i}", "title": "t", "shots": [shot]} for i in range(50)],
    }
    _raises(ErrorKind.TOO_LARGE, storyboards.parse_patch, {"assetId": "b1", "storyboard": board})


def test_import_legacy_frames_groups_scenes_in_order():
    legacy = {
        "version": 1,
        "frames": [
            {"scene": "Intro", "prompt": "A door", "duration": 2, "caption": "creak"},
            {"scene": "Intro", "description": "A hall"},
            {"scene": "Chase", "text": "Running", "camera": "handheld"},
        ],
    }
    board = storyboards.import_from_legacy_asset(json.dumps(legacy))
    assert [(s.id, s.title) for s in board.scenes] == [("scene-1", "Intro"), ("scene-2", "Chase")]
    first = board.scenes[0].shots[0]
    assert (first.prompt, first.duration_seconds, first.notes) == ("A door", 2.0, "creak")
    assert board.scenes[1].shots[0].camera == "handheld"
    assert storyboards.import_from_legacy_asset(legacy) == board


def test_import_legacy_outline_text():
    text = "Opening beat\n\n# Act one\n- A door opens\n2. A hall\nScene 3: Chase\nRunning\n"
    board = storyboards.import_from_legacy_asset(text.encode())
    assert [s.title for s in board.scenes] == ["Scene 1", "Act one", "Chase"]
    assert [shot.prompt for shot in board.scenes[1].shots] == ["A door opens", "A hall"]


def test_import_accepts_a_v2_document_as_is():
    assert storyboards.import_from_legacy_asset(json.dumps(BOARD)).scenes[0].id == "s1"


@pytest.mark.parametrize(
    "source",
    [
        "",
        "   \n\n",
        "{not json",
        '{"frames": [{"scene": "x"}]}',
        '{"frames": ["x"]}',
        '{"a": 1}',
        "# Only\n# Headings",
        b"\xff\xfe",
        "[" * 100 + "]" * 100,
        "[1, 2]",
    ],
)
def test_import_refuses_what_does_not_parse(source: str | bytes):
    _raises(ErrorKind.INVALID, storyboards.import_from_legacy_asset, source)


def test_export_markdown_golden_and_deterministic():
    board = storyboards.parse_document(BOARD)
    out = storyboards.export_markdown(board, title="My *film*")
    assert out == GOLDEN
    assert storyboards.export_markdown(storyboards.parse_document(BOARD), title="My *film*") == out


@pytest.mark.parametrize(
    "hostile",
    [
        "# heading",
        "- item",
        "1. item",
        "> quote",
        "```code```",
        "[a](javascript:x)",
        "<img src=x onerror=1>",
        "| a | b |",
        "---",
        "    code block",
        "**bold**",
        "~~s~~",
        "\\*",
        "line\n# injected heading",
        "a\r\n\r\n<div>",
        "www.evil.com",
        "x\u2028# y",
    ],
)
def test_hostile_user_text_renders_literally(hostile: str):
    escaped = storyboards.escape_markdown(hostile)
    for line in escaped.split("\n"):
        assert not line.startswith((" ", "\t")), escaped
        first = line[:1]
        assert first == "" or first == "\\" or first.isalnum(), escaped
    unescaped = escaped.replace("\\\n", "\n")
    # every active character is preceded by a backslash
    for index, char in enumerate(unescaped):
        if char in "`*_[]()<>#|~!&":
            assert unescaped[index - 1] == "\\", (hostile, escaped)

"""The boundary validators: document ids, strict integers, timestamps, bounded JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind


class _Ids(BaseModel):
    id: validate.DocId


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".", "..", "__x__", "____", "é" * 751])
def test_doc_id_refuses_what_firestore_refuses(bad: str) -> None:
    with pytest.raises(ValidationError):
        _Ids(id=bad)
    with pytest.raises(AppError) as caught:
        validate.doc_id(bad, name="sessionId")
    assert caught.value.kind is ErrorKind.INVALID and "sessionId" in caught.value.message


@pytest.mark.parametrize("good", ["cs_test_123", "a.b", "...", "__", "___", "__x", "é" * 750])
def test_doc_id_accepts_ordinary_ids(good: str) -> None:
    assert _Ids(id=good).id == good


def test_field_key_allows_slashes_but_not_reserved_names() -> None:
    assert validate.check_field_key("team/a.b") == "team/a.b"
    for bad in ("", "__x__"):
        with pytest.raises(ValueError):
            validate.check_field_key(bad)


@pytest.mark.parametrize("raw", ["²", "٣", "+1", " 1", "1 ", "1_000", "0x10", "1.0", "", "-"])
def test_strict_int_takes_ascii_digits_only(raw: str) -> None:
    assert validate.strict_int(raw) is None


def test_strict_int_stays_within_int64() -> None:
    assert validate.strict_int(str(2**63 - 1)) == 2**63 - 1
    assert validate.strict_int(str(-(2**63))) == -(2**63)
    assert validate.strict_int(str(2**63)) is None
    assert validate.strict_int("9" * 5000) is None


def test_query_int_defaults_caps_and_refuses() -> None:
    assert validate.query_int(None, name="limit", default=20, minimum=1, maximum=100) == 20
    assert validate.query_int("500", name="limit", default=20, minimum=1, maximum=100) == 100
    for raw in ("0", "²", "abc", "--5", "-" + "9" * 30):
        with pytest.raises(AppError) as caught:
            validate.query_int(raw, name="limit", default=20, minimum=1, maximum=100)
        assert caught.value.kind is ErrorKind.INVALID


def test_query_int_beyond_int64_goes_as_far_as_its_bound() -> None:
    huge = "5" * 29
    assert validate.query_int(huge, name="offset", default=0, minimum=0, maximum=10_000) == 10_000
    assert validate.query_int(huge, name="offset", default=0, minimum=0) == validate.MAX_INT
    negative = validate.query_int("-" + huge, name="o", default=0, minimum=-validate.MAX_INT)
    assert negative == -validate.MAX_INT


@pytest.mark.parametrize(
    "raw",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "yesterday", "2024-13-01", ""],
)
def test_query_moment_refuses_unrepresentable_instants(raw: str) -> None:
    with pytest.raises(AppError) as caught:
        validate.query_moment(raw, name="from")
    assert caught.value.kind is ErrorKind.INVALID


def test_query_moment_normalises_to_utc() -> None:
    moment = validate.query_moment("2024-05-01T02:00:00+02:00", name="from")
    assert moment is not None and moment.isoformat() == "2024-05-01T00:00:00+00:00"
    naive = validate.query_moment("2024-05-01T00:00:00", name="from")
    assert naive is not None and naive.utcoffset() is not None
    assert validate.query_moment(None, name="from") is None


def test_deep_json_is_refused_before_decoding() -> None:
    with pytest.raises(AppError) as caught:
        validate.loads_json(b"[" * 200_000 + b"]" * 200_000)
    assert caught.value.kind is ErrorKind.INVALID
    with pytest.raises(AppError):
        validate.loads_json(b'{"a":' * 65 + b"1" + b"}" * 65)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"a": "[" * 10_000, "b": '\\"[[[' * 1_000, "c": [[1]]})
    assert validate.loads_json(text.encode()) == json.loads(text)
    assert validate.loads_json(b"[" * 64 + b"]" * 64) is not None


def test_utf16_bodies_are_scanned_after_decoding() -> None:
    deep = ("[" * 100 + "]" * 100).encode("utf-16")
    with pytest.raises(AppError):
        validate.loads_json(deep)
    assert validate.loads_json('{"a": 1}'.encode("utf-16")) == {"a": 1}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2_000) | st.text(max_size=500).map(str.encode))
def test_loads_json_never_raises_anything_but_invalid(raw: bytes) -> None:
    try:
        validate.loads_json(raw)
    except AppError as exc:
        assert exc.kind is ErrorKind.INVALID


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.integers() | st.text(), st.lists, max_leaves=40))
def test_json_depth_matches_the_documents_real_depth(doc: object) -> None:
    def depth(value: object) -> int:
        return 1 + max(map(depth, value), default=0) if isinstance(value, list) else 0

    assert validate.json_depth(json.dumps(doc)) == depth(doc)

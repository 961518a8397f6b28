"""Tarsify's envelope and error table: every documented code renders with its documented
status, in `{success: false, error: {code, message, details?}}`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import flask
import pytest

from functions.http import entry_point
from functions.market import site
from shared.engine.errors import AppError, ErrorKind

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "000_ccd1819278fa9c13.txt"


def _documented_codes() -> dict[str, int]:
    rows = re.findall(r"\|\s*`(ERR_\d{4})`\s*\|\s*(\d{3})\s*\|", SEED.read_text())
    return {code: int(status) for code, status in rows}


@pytest.mark.skipif(not SEED.exists(), reason="the seed documents are not beside the repo")
def test_every_documented_code_has_its_documented_status() -> None:
    documented = _documented_codes()
    assert len(documented) == 30
    for code, status in documented.items():
        assert site.CODES[code][0] == status, code


@pytest.mark.skipif(not SEED.exists(), reason="the seed documents are not beside the repo")
def test_relay_adds_only_its_two_codes() -> None:
    assert set(site.CODES) - set(_documented_codes()) == {"ERR_4050", "ERR_4290"}


@pytest.mark.parametrize("code", sorted(site.CODES))
def test_a_code_renders_in_the_envelope_with_its_status(code: str) -> None:
    app = flask.Flask(__name__)
    with app.test_request_context("/"):
        response = site.render_error(site.error(code, field="title"))
    body = json.loads(response.get_data())
    assert response.status_code == site.CODES[code][0]
    assert body == {
        "success": False,
        "error": {"code": code, "message": site.CODES[code][1], "details": {"field": "title"}},
    }


def test_a_kind_without_a_code_renders_its_default_code() -> None:
    app = flask.Flask(__name__)
    with app.test_request_context("/"):
        response = site.render_error(AppError(ErrorKind.NOT_FOUND, "Job not found"))
    body = json.loads(response.get_data())
    assert (response.status_code, body["error"]["code"]) == (404, "ERR_3001")
    assert "details" not in body["error"]


def test_an_unhandled_fault_is_err_5001_without_its_message() -> None:
    def boom(request: flask.Request) -> flask.Response:
        raise RuntimeError("secret internals")

    handle = entry_point([("GET", "/boom", boom)], site.render_error)
    app = flask.Flask(__name__)
    with app.test_request_context("/boom"):
        response = handle(flask.request)
    body = json.loads(response.get_data())
    assert response.status_code == 500
    assert body["error"]["code"] == "ERR_5001"
    assert "secret" not in response.get_data(as_text=True)


def test_a_missing_field_is_err_2004_and_a_bad_one_err_2001() -> None:
    from pydantic import BaseModel, ConfigDict

    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        title: str

    app = flask.Flask(__name__)
    for payload, code in (({}, "ERR_2004"), ({"title": 3}, "ERR_2001"), ([], "ERR_2001")):
        with (
            app.test_request_context("/", method="POST", json=payload),
            pytest.raises(AppError) as caught,
        ):
            site.body(flask.request, Body)
        assert caught.value.details["code"] == code


def test_path_ids_must_be_uuids() -> None:
    assert site.path_id("6F1C2A94-5D0E-4C1B-9A7E-2F3B8D4C5E60") == (
        "6f1c2a94-5d0e-4c1b-9a7e-2f3b8d4c5e60"
    )
    for bad in ("", "abc", "../x", "6f1c2a94"):
        with pytest.raises(AppError) as caught:
            site.path_id(bad)
        assert caught.value.details["code"] == "ERR_2003"

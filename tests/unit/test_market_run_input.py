"""Marketplace run input rules, without I/O: layering, schema validation, storability,
the request fingerprint, and how runs show their status and timing."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.engine.errors import AppError
from shared.engine.jobs import JobRecord, JobState
from shared.market import run_input, run_views
from shared.market.split import creator_share

SCHEMA = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "width": {"type": "integer", "default": 256, "enum": [256, 512]},
        "style": {"type": "string", "default": "plain"},
        "tags": {"type": "array"},
        "options": {"type": "object"},
    },
}


def build(inputs: dict, overrides: dict | None = None, fixed: dict | None = None) -> dict:
    return run_input.build(
        inputs=inputs, schema=SCHEMA, overrides=overrides or {}, fixed=fixed or {}
    )


def refused(inputs: dict, **kwargs) -> AppError:
    with pytest.raises(AppError) as caught:
        build(inputs, **kwargs)
    return caught.value


def fields(error: AppError) -> list[str]:
    return [f["field"] for f in error.details["fields"]]


def test_layers_defaults_then_overrides_then_inputs_then_fixed_input() -> None:
    payload = build(
        {"prompt": "fox", "style": "noir"},
        overrides={"width": 512, "style": "ink"},
        fixed={"model": "z-image-turbo", "steps": 2, "width": 1024},
    )
    assert payload == {
        "prompt": "fox",
        "width": 1024,
        "style": "noir",
        "model": "z-image-turbo",
        "steps": 2,
    }


def test_schema_violations_name_the_field() -> None:
    assert fields(refused({})) == ["prompt"]
    assert fields(refused({"prompt": "x", "width": 300})) == ["width"]
    assert fields(refused({"prompt": "x", "colour": "red"})) == ["colour"]
    assert refused({}).details["code"] == "ERR_2001"


def test_an_override_the_schema_refuses_is_refused_too() -> None:
    assert fields(refused({"prompt": "x"}, overrides={"width": 1})) == ["width"]


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"prompt": "x", "options": {"__id__": 1}}, "options.__id__"),
        ({"prompt": "x", "options": {"": 1}}, "options."),
        ({"prompt": "x", "tags": [["a"]]}, "tags.0"),
        ({"prompt": "x", "options": {"n": 2**64}}, "options.n"),
        ({"prompt": "x", "options": {"n": float("inf")}}, "options.n"),
    ],
)
def test_values_firestore_cannot_store_are_refused(inputs: dict, field: str) -> None:
    assert fields(refused(inputs)) == [field]


def test_nesting_past_the_limit_is_refused() -> None:
    deep: dict = {}
    node = deep
    for _ in range(run_input.MAX_DEPTH + 1):
        node["n"] = {}
        node = node["n"]
    assert refused({"prompt": "x", "options": deep}).details["code"] == "ERR_2001"


def test_inputs_past_the_size_limit_are_refused() -> None:
    error = refused({"prompt": "x" * (run_input.MAX_INPUT_BYTES + 1)})
    assert fields(error) == ["inputs"]


def test_a_broken_schema_means_the_base_model_cannot_run() -> None:
    with pytest.raises(AppError) as caught:
        run_input.build(inputs={}, schema={"type": 5}, overrides={}, fixed={})
    assert caught.value.details["code"] == "ERR_5509"
    with pytest.raises(AppError) as caught:
        run_input.build(
            inputs={}, schema={"$ref": "https://example.com/s.json"}, overrides={}, fixed={}
        )
    assert caught.value.details["code"] == "ERR_5509"


def test_fingerprint_binds_slug_and_inputs_not_key_order() -> None:
    one = run_input.fingerprint(slug="a", inputs={"x": 1, "y": 2})
    assert one == run_input.fingerprint(slug="a", inputs={"y": 2, "x": 1})
    assert one != run_input.fingerprint(slug="b", inputs={"x": 1, "y": 2})
    assert one != run_input.fingerprint(slug="a", inputs={"x": 1, "y": 3})


def test_creator_share_is_the_floor_of_80_percent() -> None:
    assert [creator_share(m) for m in (0, 1, 10_000, 70_001)] == [0, 0, 8_000, 56_000]


def _job(state: JobState, **times: dt.datetime) -> JobRecord:
    start = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    return JobRecord(
        id="j",
        account_id="a",
        site="market",
        model="m",
        backend="runpod",
        input={},
        state=state,
        price_micros=0,
        created_at=start,
        timeout_at=start,
        **times,
    )


def test_claimed_shows_as_running_and_filters_map_to_engine_states() -> None:
    assert run_views.render_status(_job(JobState.CLAIMED))["status"] == "RUNNING"
    assert run_views.states_for(run_views.RunStatus.RUNNING) == ["CLAIMED", "RUNNING"]
    assert run_views.states_for(run_views.RunStatus.PENDING) == ["PENDING"]


def test_execution_time_runs_from_start_or_else_from_queueing() -> None:
    t0 = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    done = t0 + dt.timedelta(seconds=15)
    started = _job(
        JobState.COMPLETED,
        queued_at=t0,
        started_at=t0 + dt.timedelta(milliseconds=500),
        completed_at=done,
    )
    assert run_views.execution_time_ms(started) == 14_500
    assert run_views.execution_time_ms(_job(JobState.FAILED, queued_at=t0, completed_at=done)) == (
        15_000
    )
    assert run_views.execution_time_ms(_job(JobState.CANCELLED, completed_at=done)) is None
    assert run_views.render_item(started)["completedAt"] == "2026-01-20T00:00:15Z"

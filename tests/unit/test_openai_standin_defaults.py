"""The stand-in's built-in image rule (what makes `make dev` work unscripted) and its
per-rule streaming pause, checked on `plan_reply` and the Flask app directly."""

from __future__ import annotations

from typing import Any

from infra.local import openai_server
from shared.media.studio.agent.tools import PLAN_TOOLS, RUN_TOOLS


def _body(prompt: str, tools: Any) -> dict[str, Any]:
    return {
        "model": "gpt-5.4-mini",
        "messages": [{"role": "user", "content": prompt}],
        "tools": list(tools),
    }


def test_an_image_prompt_plans_an_image_job_when_the_paid_tool_is_offered() -> None:
    reply = openai_server.plan_reply(_body("Make me a Picture of a fox", PLAN_TOOLS), [])
    (call,) = reply["tool_calls"]
    assert call["name"] == "submit_media_job"
    assert call["arguments"] == {
        "task": "image.generate",
        "input": {"prompt": "Make me a Picture of a fox", "width": 512, "height": 512},
    }


def test_without_the_paid_tool_or_the_words_it_echoes() -> None:
    assert openai_server.plan_reply(_body("an image of a fox", RUN_TOOLS), [])["tool_calls"] == []
    reply = openai_server.plan_reply(_body("imagine a fox", PLAN_TOOLS), [])
    assert reply == {"content": "Echo: imagine a fox", "tool_calls": []}


def test_scripted_rules_win_over_the_built_in_one() -> None:
    rules = [{"match": "image", "content": "scripted"}]
    reply = openai_server.plan_reply(_body("an image", PLAN_TOOLS), rules)
    assert reply["content"] == "scripted" and reply["tool_calls"] == []


def test_a_bad_piece_delay_is_refused() -> None:
    app = openai_server.create_app("k")
    client = app.test_client()
    for delay in (-1, 2001, "5", True):
        rules = [{"match": "x", "content": "y", "piece_delay_ms": delay}]
        assert client.post("/_local/script", json={"rules": rules}).status_code == 400
    ok = [{"match": "x", "content": "y", "piece_delay_ms": 5}]
    assert client.post("/_local/script", json={"rules": ok}).status_code == 200

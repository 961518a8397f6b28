"""The agent loop against a fake grid that imitates only the documented worker API.

Each test runs `GridAgent.run()` on a thread, waits for the calls it expects, then asks the
agent to shut down and checks the exact requests it made (paths, query, bodies, auth).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from gpu_handlers.runtimes.grid.agent import EXIT_CONFIG, EXIT_OK, AgentConfig, GridAgent
from gpu_handlers.runtimes.grid.backend import BackendError, Generation
from gpu_handlers.runtimes.grid.client import GridClient
from tests.grid_agent.fake_grid import API_KEY, PREFIX, FakeGrid, Recorded

PROMPT = "Why is the sky blue?"
AUTH = f"Bearer {API_KEY}"


def config(**overrides) -> AgentConfig:
    values = {
        "name": "test-box",
        "platform": "linux/amd64",
        "max_new_tokens": 16,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return AgentConfig(**(values | overrides))


class ScriptedBackend:
    """A TextBackend whose generate() runs `behaviour` (and records its calls)."""

    def __init__(
        self, behaviour: Callable[[str, str], Generation], models: list[str] | None = None
    ) -> None:
        self._behaviour = behaviour
        self._models = models or ["tiny-llm:latest"]
        self.calls: list[tuple[str, str, int]] = []

    def models(self) -> list[str]:
        return list(self._models)

    def generate(
        self, model: str, prompt: str, *, max_new_tokens: int, min_new_tokens: int | None = None
    ) -> Generation:
        self.calls.append((model, prompt, max_new_tokens))
        return self._behaviour(model, prompt)


def job(job_id: int = 42, **fields) -> dict:
    return {
        "job_id": job_id,
        "model": "tiny-llm:latest",
        "model_family": "tiny-llm",
        "model_match": "exact",
        "prompt": PROMPT,
        "blobs": [],
    } | fields


class Running:
    """An agent running on a background thread."""

    def __init__(self, agent: GridAgent) -> None:
        self.agent = agent
        self.code: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.code = self.agent.run()

    def stop(self, timeout: float = 10.0) -> int | None:
        self.agent.request_shutdown()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "agent did not stop"
        return self.code


def start_agent(grid: FakeGrid, backend, cfg: AgentConfig | None = None) -> Running:
    client = GridClient(grid.url, API_KEY)
    return Running(GridAgent(cfg or config(), backend=backend, client=client))


def is_call(method: str, path: str) -> Callable[[Recorded], bool]:
    return lambda r: r.method == method and r.path == PREFIX + path


def test_serves_a_job_with_exactly_the_documented_calls(grid: FakeGrid, tiny_backend) -> None:
    grid.add_job(job())
    running = start_agent(grid, tiny_backend, config(serves_family=True))
    reported = grid.wait_for(is_call("POST", "/worker/jobs/42/result"))
    grid.wait_for(lambda r: is_call("GET", "/worker/jobs/next")(r) and r.at > reported.at)
    assert running.stop() == EXIT_OK

    expected = tiny_backend.generate("tiny-llm:latest", PROMPT, max_new_tokens=16)
    requests = grid.requests
    assert all(r.authorization == AUTH for r in requests)

    register, poll, start, result = requests[:4]
    assert (register.method, register.path) == ("POST", f"{PREFIX}/worker/register")
    assert register.body == {
        "name": "test-box",
        "agent_version": "1.0.0",
        "platform": "linux/amd64",
        "models": [{"name": "tiny-llm:latest", "serves_family": True}],
        "catch_all": False,
    }
    assert (poll.method, poll.path) == ("GET", f"{PREFIX}/worker/jobs/next")
    assert poll.query == [
        ("models[]", "tiny-llm:latest"),
        ("families[]", "tiny-llm"),
        ("catch_all", "false"),
    ]
    assert (start.method, start.path, start.body) == (
        "PATCH",
        f"{PREFIX}/worker/jobs/42/start",
        None,
    )
    assert (result.method, result.path) == ("POST", f"{PREFIX}/worker/jobs/42/result")
    duration = result.body.pop("duration_ms")
    assert isinstance(duration, int)
    assert duration >= 0
    assert result.body == {
        "output": expected.text,
        "input_tokens": expected.input_tokens,
        "output_tokens": expected.output_tokens,
        "model_used": "tiny-llm:latest",
    }
    assert expected.output_tokens > 0
    # After the result the agent only polls (and never reports the job twice).
    assert {(r.method, r.path) for r in requests[4:]} == {("GET", f"{PREFIX}/worker/jobs/next")}
    assert grid.job_states == {"42": "completed"}


def test_family_job_runs_on_the_local_model_of_that_family(grid: FakeGrid) -> None:
    backend = ScriptedBackend(lambda model, prompt: Generation("ok", 3, 1, 5))
    grid.add_job(job(7, model="tiny-llm:13b", model_match="family"))
    running = start_agent(grid, backend, config(serves_family=True, catch_all=True))
    result = grid.wait_for(is_call("POST", "/worker/jobs/7/result"))
    assert running.stop() == EXIT_OK
    assert backend.calls == [("tiny-llm:latest", PROMPT, 16)]
    assert result.body == {
        "output": "ok",
        "input_tokens": 3,
        "output_tokens": 1,
        "duration_ms": 5,
        "model_used": "tiny-llm:latest",
    }
    assert ("catch_all", "true") in grid.requests[1].query


def test_backend_failure_is_reported_with_fail(grid: FakeGrid) -> None:
    def out_of_memory(model: str, prompt: str) -> Generation:
        raise BackendError("CUDA out of memory")

    grid.add_job(job(5))
    running = start_agent(grid, ScriptedBackend(out_of_memory))
    fail = grid.wait_for(is_call("POST", "/worker/jobs/5/fail"))
    assert running.stop() == EXIT_OK
    assert fail.body == {"error": "CUDA out of memory"}
    assert fail.authorization == AUTH
    assert grid.calls("POST", "/worker/jobs/5/result") == []
    assert grid.job_states == {"5": "failed"}


def test_a_crashing_backend_fails_the_job_and_the_agent_goes_on(grid: FakeGrid) -> None:
    outcomes = iter([ValueError("boom"), Generation("second", 1, 1, 1)])

    def flaky(model: str, prompt: str) -> Generation:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    grid.add_job(job(1))
    grid.add_job(job(2))
    running = start_agent(grid, ScriptedBackend(flaky))
    grid.wait_for(is_call("POST", "/worker/jobs/2/result"))
    assert running.stop() == EXIT_OK
    assert grid.calls("POST", "/worker/jobs/1/fail")[0].body == {"error": "ValueError: boom"}
    assert grid.job_states == {"1": "failed", "2": "completed"}


def test_heartbeats_are_sent_while_a_long_job_runs(grid: FakeGrid) -> None:
    def slow(model: str, prompt: str) -> Generation:
        time.sleep(0.7)
        return Generation("slow", 1, 1, 700)

    grid.add_job(job(3))
    running = start_agent(grid, ScriptedBackend(slow), config(heartbeat_interval_s=0.1))
    result = grid.wait_for(is_call("POST", "/worker/jobs/3/result"))
    assert running.stop() == EXIT_OK
    start = grid.calls("PATCH", "/worker/jobs/3/start")[0]
    beats = grid.calls("PATCH", "/worker/heartbeat")
    assert len(beats) >= 3
    assert all(start.at < b.at < result.at and b.authorization == AUTH for b in beats)


def test_result_is_retried_when_the_grid_answers_503(grid: FakeGrid) -> None:
    grid.inject("POST", "/worker/jobs/9/result", 503, 502)
    grid.add_job(job(9))
    running = start_agent(grid, ScriptedBackend(lambda m, p: Generation("hi", 2, 1, 1)))
    grid.wait_for(lambda r: grid.job_states.get("9") == "completed")
    assert running.stop() == EXIT_OK
    attempts = grid.calls("POST", "/worker/jobs/9/result")
    assert len(attempts) == 3
    assert attempts[0].body == attempts[2].body


def test_poll_errors_back_off_and_recover(grid: FakeGrid) -> None:
    grid.inject("GET", "/worker/jobs/next", 500, 503)
    grid.add_job(job(4))
    running = start_agent(grid, ScriptedBackend(lambda m, p: Generation("x", 1, 1, 1)))
    grid.wait_for(is_call("POST", "/worker/jobs/4/result"))
    assert running.stop() == EXIT_OK
    polls = grid.calls("GET", "/worker/jobs/next")
    assert polls[1].at - polls[0].at >= 0.02  # backed off, not a hot loop


def test_a_refused_key_stops_the_agent_with_exit_2(grid: FakeGrid) -> None:
    agent = GridAgent(
        config(), backend=ScriptedBackend(lambda m, p: Generation("", 0, 0, 0)),
        client=GridClient(grid.url, "vk_live_wrong"),
    )  # fmt: skip
    assert agent.run() == EXIT_CONFIG
    assert [(r.method, r.authorization) for r in grid.requests] == [
        ("POST", "Bearer vk_live_wrong")
    ]


def test_models_the_backend_lacks_are_refused_before_registering(grid: FakeGrid) -> None:
    backend = ScriptedBackend(lambda m, p: Generation("", 0, 0, 0))
    agent = GridAgent(
        config(models=("llama3:8b",)), backend=backend, client=GridClient(grid.url, API_KEY)
    )
    assert agent.run() == EXIT_CONFIG
    assert grid.requests == []


def test_shutdown_while_idle_stops_polling_promptly(grid: FakeGrid) -> None:
    grid.poll_window_s = 30.0  # like the real grid: the poll hangs until a job or timeout
    running = start_agent(grid, ScriptedBackend(lambda m, p: Generation("", 0, 0, 0)))
    grid.wait_for(is_call("GET", "/worker/jobs/next"))
    began = time.monotonic()
    assert running.stop(timeout=5.0) == EXIT_OK
    assert time.monotonic() - began < 3.0  # not the 30 s poll window


@pytest.mark.parametrize("second_signal", [False, True])
def test_shutdown_during_a_job_fails_it_after_the_grace(
    grid: FakeGrid, second_signal: bool
) -> None:
    release = threading.Event()

    def stuck(model: str, prompt: str) -> Generation:
        release.wait(30)
        return Generation("late", 1, 1, 1)

    grid.add_job(job(11))
    cfg = config(shutdown_grace_s=0.5 if not second_signal else 30.0)
    running = start_agent(grid, ScriptedBackend(stuck), cfg)
    grid.wait_for(is_call("PATCH", "/worker/jobs/11/start"))
    if second_signal:
        running.agent.request_shutdown()  # the second request below ends the grace at once
    began = time.monotonic()
    assert running.stop(timeout=5.0) == EXIT_OK
    release.set()
    assert time.monotonic() - began < 5.0  # not the 30 s the generation would take
    assert grid.calls("POST", "/worker/jobs/11/fail")[0].body == {"error": "worker shutting down"}
    assert grid.calls("POST", "/worker/jobs/11/result") == []
    assert running.agent.abandoned_generation

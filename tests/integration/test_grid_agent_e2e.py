"""The grid's "done when": a client's job with a webhook runs on the bundled grid-worker
agent (tiny local LLM), the client receives a correctly signed webhook, and the worker is
paid output_tokens / 1000 credits, then cashes out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from shared.engine import audit, ledger
from shared.engine.webhooks import verify
from tests.helpers import site_url
from tests.integration.grid_client import grid_key

MODELS = Path(__file__).resolve().parents[2] / ".local" / "models" / "tiny-llm"


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_agent_runs_a_webhook_job_and_is_paid(stack) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"{site_url(stack, 'grid')}/api/v1"
    worker_account, worker_key = grid_key()
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_handlers.runtimes.grid",
            "--backend",
            "transformers",
            "--model-dir",
            str(MODELS),
            "--threads",
            "1",
            "--name",
            "e2e-agent",
            "--api-url",
            api,
            "--max-new-tokens",
            "24",
        ],
        env={**os.environ, **stack.env, "GRID_API_KEY": worker_key},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client_account, client_key = grid_key()  # no credit: the free tier
        headers = {"Authorization": f"Bearer {client_key}"}
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        created = httpx.post(
            f"{api}/jobs",
            headers=headers,
            json={
                "model": "tiny-llm:latest",
                "model_match": "exact",
                "prompt": "hello grid",
                "webhook_url": hook,
                "tag": "e2e",
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not Receiver.received:
            time.sleep(0.25)
        assert Receiver.received, "no webhook arrived"
        body, received_headers = Receiver.received[0]
        assert verify(body, received_headers["X-Vibe-Signature"], client_key)
        assert not verify(body, received_headers["X-Vibe-Signature"], worker_key)
        delivered = json.loads(body)
        assert delivered["job_id"] == job_id and delivered["status"] == "completed"
        job = httpx.get(f"{api}/jobs/{job_id}", headers=headers).json()
        assert job == delivered
        tokens = job["output_tokens"]
        assert 0 < tokens <= 24 and job["input_tokens"] > 0 and job["output"] is not None
        worker = {"Authorization": f"Bearer {worker_key}"}
        credits = httpx.get(f"{api}/worker/credits", headers=worker).json()
        assert credits["balance"] == round(tokens / 1000, 4)
        assert credits["history"][0]["output_tokens"] == tokens
        payout = httpx.post(f"{api}/worker/payout_request", headers=worker)
        assert payout.status_code == 201 and payout.json()["amount_credits"] == round(
            tokens / 1000, 4
        )
        assert ledger.balance(ledger.earnings_account(worker_account)).balance_micros == 0
        for account_id in (client_account, worker_account, ledger.earnings_account(worker_account)):
            assert audit.check(account_id)["ok"]
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        server.shutdown()

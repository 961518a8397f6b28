"""Task targets answer only the tasks account's OIDC ID token for their own URL.

Locally the token is signed by the local key (.local/signing-sa.json), exactly as the
enqueuer and the stack's Scheduler loop sign it; everything else about it (issuer, audience,
email, expiry) is checked as in production.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.engine import jobs
from shared.engine.jobs import JobState
from shared.engine.queue import Target, task_url
from shared.engine.settings import get_settings
from shared.engine.task_auth import _local_key_info, sign_token
from tests.helpers import new_account, task_headers
from tests.integration.runpod_faults import idle_create

TARGETS = [Target.DISPATCH, Target.SWEEP, Target.DELIVER_WEBHOOK, Target.SCAN, Target.STUDIO_AGENT]


def _other_key() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {**_local_key_info(), "private_key": pem}


def _bad_tokens(target: str) -> dict[str, dict[str, str]]:
    url, email, key = task_url(target), get_settings().tasks_service_account, _local_key_info()

    def bearer(**overrides: Any) -> dict[str, str]:
        claims: dict[str, Any] = {"audience": url, "email": email, "key_info": key, **overrides}
        return {"Authorization": f"Bearer {sign_token(**claims)}"}

    return {
        "none": {},
        "not bearer": {"Authorization": "Basic dGFzazp0YXNr"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "another key": bearer(key_info=_other_key()),
        "wrong audience": bearer(
            audience=task_url(Target.SWEEP if target != Target.SWEEP else Target.DISPATCH)
        ),
        "expired": bearer(valid_from=time.time() - 7200),
        "not yet valid": bearer(valid_from=time.time() + 600),
        "wrong email": bearer(email="someone@demo-relay.iam.gserviceaccount.com"),
        "unverified email": bearer(email_verified=False),
        "wrong issuer": bearer(issuer="https://evil.example"),
    }


@pytest.mark.parametrize("target", TARGETS)
def test_a_task_target_refuses_every_token_but_the_tasks_accounts(stack, target: str) -> None:
    url = f"http://127.0.0.1:{stack.ports['functions']}/{target}"
    for case, headers in _bad_tokens(target).items():
        response = httpx.post(url, json={}, headers=headers, timeout=30)
        assert response.status_code == 401, (target, case, response.text)
        assert response.json() == {"error": "not a task"}, case


def test_a_refused_dispatch_does_nothing_and_a_valid_one_runs(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = jobs.submit(idle_create(account_id), dispatch=False)
    url = f"http://127.0.0.1:{stack.ports['functions']}/{Target.DISPATCH}"
    for case, headers in _bad_tokens(Target.DISPATCH).items():
        response = httpx.post(url, json={"job_id": job.id}, headers=headers, timeout=30)
        assert response.status_code == 401, case
        assert jobs.get(job.id).state is JobState.PENDING, case
    ok = httpx.post(url, json={"job_id": job.id}, headers=task_headers(Target.DISPATCH), timeout=60)
    assert ok.status_code == 200, ok.text
    assert jobs.get(job.id).state is not JobState.PENDING


def test_the_sweep_runs_with_the_schedulers_token(stack) -> None:
    url = f"http://127.0.0.1:{stack.ports['functions']}/{Target.SWEEP}"
    response = httpx.post(url, json={}, headers=task_headers(Target.SWEEP), timeout=120)
    assert response.status_code == 200, response.text

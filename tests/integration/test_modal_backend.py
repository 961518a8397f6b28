"""The Modal backend's local mode: the deployed function's body runs through
`Function.local()` and reports through the same callback as RunPod."""

from __future__ import annotations

import base64
import io
import time

from PIL import Image

from shared.engine import audit, jobs, ledger, outputs
from shared.engine.jobs import JobCreate, JobState
from shared.schemas.images import ImageGenerationInput
from tests.helpers import new_account


def test_modal_job_completes_through_the_shared_callback(stack) -> None:
    account_id, _ = new_account(credits=2)
    payload = ImageGenerationInput(
        model="flux-schnell", prompt="a kite", width=72, height=64, steps=2, seed=3
    ).model_dump(mode="json")
    job = jobs.submit(
        JobCreate(
            account_id=account_id,
            site="pics",
            model="flux-schnell",
            backend="modal",
            input=payload,
            price_micros=10_000,
        )
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not jobs.get(job.id).terminal:
        time.sleep(0.25)
    done = jobs.get(job.id)
    assert done.state is JobState.COMPLETED, done.error
    assert done.backend_job_id.startswith("local-")
    image = Image.open(io.BytesIO(outputs.read_output(done.outputs[0])))
    assert image.size == (72, 64)
    assert ledger.balance(account_id).balance_micros == 10_000
    assert audit.check(account_id)["ok"]


def test_modal_function_body_matches_the_handler(stack) -> None:
    from gpu_handlers.registry import get_handler
    from gpu_handlers.runtimes.modal_app import run_local

    payload = ImageGenerationInput(
        model="z-image-turbo", prompt="x", width=64, height=64, steps=2, seed=11
    ).model_dump(mode="json")
    via_modal = run_local("z-image-turbo", payload)
    direct = get_handler("z-image-turbo").generate(payload)
    assert base64.b64decode(via_modal["image_png_b64"]) == base64.b64decode(direct["image_png_b64"])

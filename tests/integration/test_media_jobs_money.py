"""Media job money and delivery on the local stack (real ffmpeg-video worker):
charged at submit exactly as quoted, captured at completion, refunded in full when the
handler fails; one idempotency key bills once under ten concurrent submits; the
completion callback is delivered once, signed with the client's key, retried on 5xx."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.engine import ledger
from shared.engine.webhooks import SIGNATURE_HEADER
from tests.helpers import assert_audited, media_account, wait_at_rest
from tests.media_jobs_helpers import file_host, mp4, png, status, submit, wait_done
from tests.webhook_receiver import Receiver, wait_until

FUNDS = 5_000_000


def _resize(url: str, **extra: object) -> dict[str, object]:
    return {
        "task": "video.resize",
        "input": {"sourceVideoUrl": url, "width": 32, "height": 24},
        **extra,
    }


@pytest.fixture(scope="module")
def host():
    with file_host() as running:
        yield running


def test_a_job_charges_its_quote_at_submit_and_captures_it_at_completion(stack, host) -> None:
    account_id, key = media_account(micros=FUNDS)
    response = submit(stack, key, _resize(host.put(mp4(seconds=1.0), "video/mp4")))
    assert response.status_code == 201, response.text
    body = response.json()
    charged = body["usdChargedMicros"]
    meta = body["pricingMeta"]
    # 32 x 24 pixels x 30 probed frames at 10,000 micros per gigapixel, rounded up: 1 micro.
    assert meta["billableFrames"] == 30 and meta["framesFrom"] == "probe"
    assert charged == max(1, -(-32 * 24 * 30 * 10_000 // 1_000_000_000))
    assert body["usdBalanceMicros"] == FUNDS - charged
    assert body["usdCharged"] == f"0.{charged:06d}"
    assert body["stagedInputCount"] == 1
    done = wait_done(stack, key, body["externalJobId"])
    assert done["status"] == "completed", done
    assert done["billing"]["usdChargedMicros"] == charged
    video = httpx.get(done["downloadableOutputUrls"][0], timeout=30)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (FUNDS - charged, 0)
    wait_at_rest(account_id)
    assert_audited(account_id)


def test_a_failing_handler_refunds_in_full(stack, host) -> None:
    account_id, key = media_account(micros=FUNDS)
    # The second clip (30 frames) is shorter than the overlap the combine must drop (60):
    # the handler refuses it as invalid input and the job fails.
    clips = [host.put(mp4(seconds=1.0), "video/mp4"), host.put(mp4(seconds=1.0), "video/mp4")]
    body = {"task": "video.combine", "input": {"videoUrls": clips, "overlapFrames": 60}}
    response = submit(stack, key, body)
    assert response.status_code == 201, response.text
    assert ledger.balance(account_id).held_micros == response.json()["usdChargedMicros"] > 0
    done = wait_done(stack, key, response.json()["externalJobId"])
    assert done["status"] == "failed" and "invalid input" in done["result"]["error"], done
    assert done["billing"]["usdChargedMicros"] == 0
    assert done["downloadableOutputUrls"] == []
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (FUNDS, 0)
    assert_audited(account_id)


def test_ten_concurrent_submits_with_one_key_make_one_job_and_one_charge(stack, host) -> None:
    account_id, key = media_account(micros=FUNDS)
    body = _resize(host.put(mp4(seconds=1.0), "video/mp4"), idempotencyKey=uuid.uuid4().hex)
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: submit(stack, key, body), range(10)))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    ids = {a.json()["externalJobId"] for a in answers}
    assert len(ids) == 1
    charged = answers[0].json()["usdChargedMicros"]
    holds = [e for e in ledger.entries(account_id) if e["kind"] == ledger.EntryKind.HOLD]
    assert len(holds) == 1 and holds[0]["held_delta_micros"] == charged
    done = wait_done(stack, key, ids.pop())
    assert done["status"] == "completed"
    assert ledger.balance(account_id).available_micros == FUNDS - charged
    again = submit(stack, key, body)
    assert again.status_code == 201 and again.json()["externalJobId"] == done["externalJobId"]
    reused = submit(stack, key, {**body, "input": {**body["input"], "width": 64}})
    assert reused.status_code == 409, reused.text
    wait_at_rest(account_id)
    assert ledger.balance(account_id).available_micros == FUNDS - charged
    assert_audited(account_id)


def test_an_account_that_cannot_pay_gets_402_and_nothing_held(stack, host) -> None:
    account_id, key = media_account(micros=10)
    body = {"task": "trellis.generate", "input": {"sourceImageUrl": host.put(png(), "image/png")}}
    response = submit(stack, key, body)
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "insufficient_credits"
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (10, 0)


def test_status_is_the_owners_only(stack, host) -> None:
    _, key = media_account(micros=FUNDS)
    _, other = media_account(micros=FUNDS)
    job_id = submit(stack, key, _resize(host.put(mp4(), "video/mp4"))).json()["externalJobId"]
    assert status(stack, key, job_id).status_code == 200
    assert status(stack, other, job_id).status_code == 404
    assert status(stack, key, str(uuid.uuid4())).status_code == 404
    assert status(stack, key, "../../etc").status_code == 404
    details = wait_done(stack, key, job_id)
    assert details["effectiveInput"]["width"] == 32
    assert details["result"]["upstream"]["contentType"] == "video/mp4"
    plain = status(stack, key, job_id).json()
    assert "effectiveInput" not in plain and "upstream" not in plain["result"]


def _identify(body: dict) -> tuple[str, str]:
    return (str(body.get("status")), str(body.get("externalJobId")))


def test_the_completion_callback_is_delivered_once_signed_and_retried(stack, host) -> None:
    _, key = media_account(micros=FUNDS)
    receiver = Receiver(signature_header=SIGNATURE_HEADER, identify=_identify)
    try:
        body = _resize(host.put(mp4(), "video/mp4"), completionCallbackUrl=f"{receiver.url}/flaky")
        job_id = submit(stack, key, body).json()["externalJobId"]
        done = wait_done(stack, key, job_id)
        assert done["status"] == "completed"
        # /flaky answers 500 twice: the third attempt (after backoff) is accepted.
        wait_until(
            lambda: len(receiver.matching("completed", job_id, "/flaky")) >= 3,
            60,
            "the callback's third attempt",
        )
        deliveries = receiver.matching("completed", job_id, "/flaky")
        assert len({d.body for d in deliveries}) == 1  # the same bytes every attempt
        expected = hmac.new(key.encode(), deliveries[0].body, hashlib.sha256).hexdigest()
        assert deliveries[-1].signature == f"sha256={expected}"
        assert deliveries[-1].json["downloadableOutputUrls"]
        time.sleep(3)
        assert len(receiver.matching("completed", job_id, "/flaky")) == 3  # no fourth
    finally:
        receiver.close()

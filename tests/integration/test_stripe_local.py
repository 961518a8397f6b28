"""Integration tests for the local Stripe server (infra/local/stripe_server.py).

The server runs as its real CLI subprocess on a free port and is driven by the real ``stripe``
SDK (both the global ``stripe.api_base`` form and ``StripeClient(base_addresses=...)``), so
these tests prove that production code using the SDK works against it unchanged. Webhooks go
to a tiny local HTTP receiver and are verified with ``stripe.Webhook.construct_event``. Every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from infra.local.stripe.params import StripeError, decode_pairs
from tests.webhook_receiver import Receiver, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_local_relay"
WEBHOOK_SECRET = "whsec_local_relay"

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _receiver() -> Receiver:
    return Receiver(
        signature_header="Stripe-Signature",
        identify=lambda event: (event["type"], event["data"]["object"]["id"]),
    )


@dataclass
class LocalStripe:
    url: str
    receiver: Receiver
    client: stripe.StripeClient
    # One shared client: a fresh httpx client per call costs ~50-100 ms of TLS setup.
    http: httpx.Client

    def local(self, path: str, **form: Any) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", data=form)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    receiver = _receiver()
    port = _free_port()
    log = (tmp_path_factory.mktemp("stripe") / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.stripe_server",
            "--port",
            str(port),
            "--api-key",
            API_KEY,
            "--webhook-secret",
            WEBHOOK_SECRET,
            "--webhook",
            f"{receiver.url}/hooks",
            "--webhook-retry-delays",
            "0.2,0.2",
        ],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, "stripe server exited; see its log"
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/_local/health", timeout=1).status_code == 200
        return False

    saved = (stripe.api_key, stripe.api_base)
    try:
        wait_until(healthy, 20, "the local Stripe server")
        stripe.api_key, stripe.api_base = API_KEY, url
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url})
        with httpx.Client(timeout=10) as http:
            yield LocalStripe(url, receiver, client, http)
    finally:
        stripe.api_key, stripe.api_base = saved
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        receiver.close()


def _create_session(**extra: Any) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 500,
                    "product_data": {"name": "Relay credits"},
                },
                "quantity": 2,
            }
        ],
        "success_url": "https://relay.example/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://relay.example/cancelled",
        "client_reference_id": "acct-123",
        "customer_email": "buyer@example.com",
        "metadata": {"account_id": "acct-123", "purpose": "topup"},
        "payment_intent_data": {"metadata": {"topup": "t-1"}},
    }
    params.update(extra)
    return stripe.checkout.Session.create(**params)


def _paid_session(server: LocalStripe) -> stripe.checkout.Session:
    session = _create_session()
    response = server.local(f"/_local/checkout/{session.id}/complete")
    assert response.status_code == 200, response.text
    return stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])


# -- checkout -----------------------------------------------------------------------------------


def test_checkout_session_lifecycle_and_signed_webhook(server: LocalStripe) -> None:
    session = _create_session()
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.amount_subtotal, session.currency) == (1000, 1000, "usd")
    assert session.metadata.to_dict() == {"account_id": "acct-123", "purpose": "topup"}
    assert session.client_reference_id == "acct-123"
    assert session.livemode is False and session.payment_intent is None

    fetched = stripe.checkout.Session.retrieve(session.id)
    assert (fetched.status, fetched.payment_status) == ("open", "unpaid")
    page = server.http.get(fetched.url)
    assert page.status_code == 200 and "$10.00" in page.text and "Relay credits" in page.text

    completed = server.local(f"/_local/checkout/{session.id}/complete")
    assert completed.status_code == 200, completed.text

    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    intent = paid.payment_intent
    assert intent.id.startswith("pi_") and intent.status == "succeeded"
    assert intent.amount_received == 1000 and intent.metadata.to_dict() == {"topup": "t-1"}
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert charge.id.startswith("ch_") and charge.paid and charge.payment_intent == intent.id

    delivery = server.receiver.wait_for("checkout.session.completed", session.id)[0]
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert event.type == "checkout.session.completed" and event.id.startswith("evt_")
    assert event.object == "event" and event.livemode is False
    assert event.api_version == stripe.api_version
    obj = event.data.object
    assert (obj.id, obj.payment_status, obj.payment_intent) == (session.id, "paid", intent.id)
    assert obj.metadata.to_dict()["account_id"] == "acct-123"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_wrong")
    server.receiver.wait_for("payment_intent.succeeded", intent.id)
    server.receiver.wait_for("charge.succeeded", charge.id)

    # The API serves the same event; a resend delivers the identical body again.
    assert stripe.Event.retrieve(event.id).data.object.id == session.id
    for expected in (2, 3):
        resent = server.local(f"/_local/events/{event.id}/resend")
        assert resent.status_code == 200, resent.text
        again = server.receiver.wait_for("checkout.session.completed", session.id, expected)
        assert all(d.body == delivery.body for d in again)
        stripe.Webhook.construct_event(again[-1].body, again[-1].signature, WEBHOOK_SECRET)


def test_pay_on_the_local_checkout_page(server: LocalStripe) -> None:
    session = _create_session(customer_email=None)
    response = server.http.post(
        f"{server.url}/checkout/{session.id}/pay", data={"email": "page@example.com"}, timeout=10
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"https://relay.example/paid?session={session.id}"
    paid = stripe.checkout.Session.retrieve(session.id)
    assert paid.status == "complete" and paid.customer_details.email == "page@example.com"
    assert paid.url is None
    again = server.http.post(f"{server.url}/checkout/{session.id}/pay")
    assert again.status_code == 400  # a session is paid once


def test_cli_completes_a_session(server: LocalStripe) -> None:
    session = _create_session()
    url = server.url
    done = subprocess.run(
        [sys.executable, "-m", "infra.local.stripe_server", "complete", session.id, "--url", url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["payment_status"] == "paid"
    assert stripe.checkout.Session.retrieve(session.id).status == "complete"


def test_expire_an_open_session(server: LocalStripe) -> None:
    session = _create_session()
    expired = stripe.checkout.Session.expire(session.id)
    assert (expired.status, expired.payment_status, expired.url) == ("expired", "unpaid", None)
    server.receiver.wait_for("checkout.session.expired", session.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.checkout.Session.expire(session.id)
    assert err.value.http_status == 400
    cannot_pay = server.local(f"/_local/checkout/{session.id}/complete")
    assert cannot_pay.status_code == 400
    assert cannot_pay.json()["error"]["code"] == "checkout_session_not_open"


def test_stripe_client_form(server: LocalStripe) -> None:
    client = server.client
    created = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 250,
                        "product_data": {"name": "Tokens"},
                    },
                    "quantity": 3,
                }
            ],
            "success_url": "https://relay.example/ok",
            "metadata": {"job_id": "job-9"},
        }
    )
    assert created.amount_total == 750 and created.currency == "eur"
    got = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["line_items"]})
    assert got.metadata["job_id"] == "job-9"
    assert got.line_items.data[0].quantity == 3
    assert got.line_items.data[0].price.unit_amount == 250
    listed = client.v1.checkout.sessions.list(params={"limit": 100, "status": "open"})
    assert created.id in [s.id for s in listed.data]
    assert client.v1.checkout.sessions.expire(created.id).status == "expired"

    # Cursor pagination, newest first, through the SDK's auto-pager.
    ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2] and first.has_more
    paged = [c.id for c in first.auto_paging_iter()]
    assert paged[:5] == ids[::-1]


# -- refunds and disputes -----------------------------------------------------------------------


def test_refund_emits_charge_refunded(server: LocalStripe) -> None:
    session = _paid_session(server)
    intent = session.payment_intent
    refund = stripe.Refund.create(
        payment_intent=intent.id, amount=400, metadata={"reason": "job failed"}
    )
    assert refund.object == "refund" and refund.id.startswith("re_")
    assert (refund.amount, refund.status, refund.charge) == (400, "succeeded", intent.latest_charge)
    delivery = server.receiver.wait_for("charge.refunded", intent.latest_charge)[0]
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert event.data.object.amount_refunded == 400 and event.data.object.refunded is False
    assert event.data.previous_attributes.amount_refunded == 0

    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(charge=intent.latest_charge, amount=601)
    assert err.value.param == "amount"
    rest = stripe.Refund.create(charge=intent.latest_charge)
    assert rest.amount == 600
    assert stripe.Charge.retrieve(intent.latest_charge).refunded is True


def test_dispute_emits_charge_dispute_created(server: LocalStripe) -> None:
    session = _paid_session(server)
    charge_id = session.payment_intent.latest_charge
    response = server.local(f"/_local/charges/{charge_id}/dispute", reason="fraudulent")
    assert response.status_code == 200, response.text
    dispute = response.json()
    assert dispute["id"].startswith("dp_") and dispute["object"] == "dispute"
    delivery = server.receiver.wait_for("charge.dispute.created", dispute["id"])[0]
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    obj = event.data.object
    assert (obj.amount, obj.charge, obj.reason, obj.status) == (
        1000,
        charge_id,
        "fraudulent",
        "needs_response",
    )
    assert obj.payment_intent == session.payment_intent.id
    assert stripe.Dispute.retrieve(dispute["id"]).status == "needs_response"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(charge=charge_id)
    assert err.value.code == "charge_disputed"


# -- connect ----------------------------------------------------------------------------------


def test_connect_onboarding_transfer_and_payout(server: LocalStripe) -> None:
    account = stripe.Account.create(
        type="express",
        email="creator@example.com",
        capabilities={"transfers": {"requested": True}},
        metadata={"creator_id": "cr-1"},
    )
    assert account.id.startswith("acct_") and account.object == "account"
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Transfer.create(amount=100, currency="usd", destination=account.id)
    assert err.value.code == "insufficient_capabilities_for_transfer"

    link = stripe.AccountLink.create(
        account=account.id,
        type="account_onboarding",
        refresh_url="https://relay.example/refresh",
        return_url="https://relay.example/return",
    )
    assert link.object == "account_link" and link.expires_at > time.time()
    assert server.http.get(link.url).status_code == 200
    submit = server.http.post(f"{link.url}/submit")
    assert (submit.status_code, submit.headers["location"]) == (303, "https://relay.example/return")
    # Account Links are single-use: a second visit goes to refresh_url.
    assert server.http.get(link.url).headers["location"] == "https://relay.example/refresh"

    delivery = server.receiver.wait_for("account.updated", account.id)[0]
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert event.account == account.id and event.data.object.charges_enabled is True
    assert event.data.previous_attributes.details_submitted is False
    onboarded = stripe.Account.retrieve(account.id)
    assert (onboarded.charges_enabled, onboarded.payouts_enabled) == (True, True)
    assert onboarded.capabilities.transfers == "active"

    transfer = stripe.Transfer.create(
        amount=2500, currency="usd", destination=account.id, metadata={"payout": "p-1"}
    )
    assert transfer.id.startswith("tr_") and transfer.destination == account.id
    created = server.receiver.wait_for("transfer.created", transfer.id)[0].json
    assert created["data"]["object"]["metadata"] == {"payout": "p-1"}
    expanded = stripe.Transfer.retrieve(transfer.id, expand=["destination"])
    assert expanded.destination.id == account.id

    payout = stripe.Payout.create(amount=2500, currency="usd", stripe_account=account.id)
    assert payout.id.startswith("po_") and payout.status == "pending"
    assert stripe.Payout.retrieve(payout.id, stripe_account=account.id).amount == 2500
    with pytest.raises(stripe.InvalidRequestError):  # it lives on the connected account
        stripe.Payout.retrieve(payout.id)
    settled = server.local(f"/_local/payouts/{payout.id}/settle", status="paid")
    assert settled.json()["status"] == "paid"
    assert server.receiver.wait_for("payout.paid", payout.id)[0].json["account"] == account.id

    onboard_again = server.local(f"/_local/accounts/{account.id}/onboard")
    assert onboard_again.status_code == 200  # idempotent once onboarded


def test_transfer_reversals_partial_then_full_emit_transfer_reversed(server: LocalStripe) -> None:
    account = stripe.Account.create(type="express", capabilities={"transfers": {"requested": True}})
    server.local(f"/_local/accounts/{account.id}/onboard")
    transfer = stripe.Transfer.create(amount=1000, currency="usd", destination=account.id)
    partial = stripe.Transfer.create_reversal(transfer.id, amount=300)
    assert partial.object == "transfer_reversal" and partial.amount == 300
    assert partial.transfer == transfer.id
    event = server.receiver.wait_for("transfer.reversed", transfer.id)[0].json
    assert event["data"]["object"]["amount_reversed"] == 300
    assert event["data"]["object"]["reversed"] is False
    with pytest.raises(stripe.InvalidRequestError):  # more than the 700 left
        stripe.Transfer.create_reversal(transfer.id, amount=701)
    rest = stripe.Transfer.create_reversal(transfer.id)  # no amount: all that is left
    assert rest.amount == 700
    after = stripe.Transfer.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (1000, True)
    assert [r.id for r in after.reversals.data] == [rest.id, partial.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Transfer.create_reversal(transfer.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Transfer.create_reversal("tr_missing")


# -- events, endpoints, retries ---------------------------------------------------------------


def test_events_list_newest_first_with_type_filter(server: LocalStripe) -> None:
    session = _paid_session(server)
    events = stripe.Event.list(type="checkout.session.completed", limit=3)
    assert events.data[0].data.object.id == session.id
    assert all(e.type == "checkout.session.completed" for e in events.data)
    created = [e.created for e in stripe.Event.list(limit=20).data]
    assert created == sorted(created, reverse=True)
    wildcard = stripe.Event.list(type="payment_intent.*", limit=5)
    assert {e.type for e in wildcard.data} <= {"payment_intent.created", "payment_intent.succeeded"}
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Event.retrieve("evt_missing")
    assert err.value.http_status == 404


def test_webhook_retries_until_2xx(server: LocalStripe) -> None:
    added = server.http.post(
        f"{server.url}/_local/webhook_endpoints",
        json={"url": f"{server.receiver.url}/flaky", "enabled_events": ["customer.created"]},
    )
    assert added.status_code == 200, added.text
    endpoint = added.json()
    assert endpoint["secret"] == WEBHOOK_SECRET
    try:
        customer = stripe.Customer.create(email="retry@example.com")
        attempts = server.receiver.wait_for("customer.created", customer.id, 3, path="/flaky")
        assert len({d.body for d in attempts}) == 1  # the same bytes on every attempt
        event_id = attempts[0].json["id"]
        log = server.http.get(f"{server.url}/_local/events/{event_id}/deliveries").json()
        flaky = [a["status"] for a in log["data"] if a["endpoint"] == endpoint["id"]]
        assert flaky == [500, 500, 200]
        # Only the events it subscribed to reach it.
        assert all(
            d.json["type"] == "customer.created"
            for d in server.receiver.deliveries
            if d.path == "/flaky"
        )
    finally:
        server.http.delete(f"{server.url}/_local/webhook_endpoints/{endpoint['id']}")


# -- idempotency and errors -------------------------------------------------------------------


def test_idempotency_key_replays_the_same_session(server: LocalStripe) -> None:
    first = _create_session(idempotency_key="topup-order-42")
    second = _create_session(idempotency_key="topup-order-42")
    assert second.id == first.id
    raw = server.http.post(
        f"{server.url}/v1/checkout/sessions",
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "topup-order-42"},
        content=b"mode=payment",
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        _create_session(idempotency_key="topup-order-42", client_reference_id="other")
    sessions = stripe.checkout.Session.list(limit=100)
    assert [s.id for s in sessions.data].count(first.id) == 1


def test_bad_api_key_is_401_in_stripe_envelope(server: LocalStripe) -> None:
    with pytest.raises(stripe.AuthenticationError) as err:
        stripe.checkout.Session.list(api_key="sk_test_wrong_key_0000")
    assert err.value.http_status == 401
    bad_client = stripe.StripeClient("sk_test_nope", base_addresses={"api": server.url})
    with pytest.raises(stripe.AuthenticationError):
        bad_client.v1.checkout.sessions.list()
    raw = server.http.get(f"{server.url}/v1/checkout/sessions")
    assert raw.status_code == 401
    assert raw.json()["error"]["type"] == "invalid_request_error"
    basic = server.http.get(f"{server.url}/v1/checkout/sessions", auth=(API_KEY, ""))
    assert basic.status_code == 200 and basic.json()["object"] == "list"


def test_unknown_ids_and_urls_are_404(server: LocalStripe) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.checkout.Session.retrieve("cs_test_doesnotexist")
    assert (err.value.http_status, err.value.code) == (404, "resource_missing")
    body = err.value.json_body
    assert body["error"]["message"] == "No such checkout.session: 'cs_test_doesnotexist'"
    assert body["error"]["param"] == "id"
    with pytest.raises(stripe.InvalidRequestError):
        server.client.v1.payment_intents.retrieve("pi_missing")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Charge.retrieve("ch_missing")
    raw = server.http.get(f"{server.url}/v1/nothing_here", auth=(API_KEY, ""))
    assert raw.status_code == 404 and "Unrecognized request URL" in raw.json()["error"]["message"]


def test_bad_params_are_400(server: LocalStripe) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.checkout.Session.create(success_url="https://relay.example/ok")
    assert (err.value.http_status, err.value.param) == (400, "mode")
    assert err.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as err:
        _create_session(line_items=[{"price_data": {"currency": "usd", "unit_amount": 500}}])
    assert err.value.param == "line_items[0][price_data][product_data]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        _create_session(metdata={"typo": "1"})
    assert (err.value.code, err.value.param) == ("parameter_unknown", "metdata")
    with pytest.raises(stripe.InvalidRequestError) as err:
        _create_session(expand=["nope"])
    assert err.value.param == "expand"
    with pytest.raises(stripe.InvalidRequestError) as err:
        _create_session(payment_intent_data={"transfer_data": {"destination": "acct_x"}})
    assert "does not support" in str(err.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create()
    assert err.value.http_status == 400
    too_small = server.http.post(
        f"{server.url}/v1/checkout/sessions",
        auth=(API_KEY, ""),
        data={
            "mode": "payment",
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "abc",
            "line_items[0][price_data][product_data][name]": "x",
            "line_items[0][quantity]": "1",
        },
    )
    assert too_small.status_code == 400
    assert too_small.json()["error"]["code"] == "parameter_invalid_integer"


def test_form_decoding_follows_stripe_bracket_notation() -> None:
    decoded = decode_pairs(
        [
            ("expand[]", "payment_intent"),
            ("expand[]", "customer"),
            ("line_items[0][price_data][unit_amount]", "500"),
            ("line_items[1][quantity]", "2"),
            ("metadata[0]", "zero"),
            ("metadata[job_id]", "j-1"),
        ]
    )
    assert decoded == {
        "expand": ["payment_intent", "customer"],
        "line_items": [{"price_data": {"unit_amount": "500"}}, {"quantity": "2"}],
        "metadata": {"0": "zero", "job_id": "j-1"},
    }
    with pytest.raises(StripeError):
        decode_pairs([("line_items[1][quantity]", "2")])  # arrays start at 0


# -- card fingerprints --------------------------------------------------------------------------


def _pay_with(server: LocalStripe, card: str | None) -> Any:
    session = _create_session()
    form = {} if card is None else {"card": card}
    response = server.local(f"/_local/checkout/{session.id}/complete", **form)
    assert response.status_code == 200, response.text
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent.latest_charge"])
    return paid.payment_intent.latest_charge.payment_method_details.card


def test_card_fingerprint_is_stable_per_card_number_and_opaque(server: LocalStripe) -> None:
    default = _pay_with(server, None)
    same = _pay_with(server, "4242 4242 4242 4242")
    other = _pay_with(server, "5555555555554444")
    assert (default.brand, default.last4) == ("visa", "4242")
    assert (other.brand, other.last4) == ("mastercard", "4444")
    assert default.fingerprint == same.fingerprint != other.fingerprint
    assert len(default.fingerprint) == 16 and default.fingerprint.isalnum()
    assert "4242" not in default.fingerprint
    # The same card through the PaymentIntent and the Charge, as the SDK reads them.
    session = _create_session()
    server.local(f"/_local/checkout/{session.id}/complete", card="5555555555554444")
    intent = stripe.PaymentIntent.retrieve(
        stripe.checkout.Session.retrieve(session.id).payment_intent, expand=["latest_charge"]
    )
    assert intent.latest_charge.payment_method_details.card.fingerprint == other.fingerprint


def test_an_incorrect_card_number_is_refused_and_changes_nothing(server: LocalStripe) -> None:
    session = _create_session()
    refused = server.local(f"/_local/checkout/{session.id}/complete", card="4242424242424241")
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "incorrect_number"
    assert refused.json()["error"]["type"] == "card_error"
    still = stripe.checkout.Session.retrieve(session.id)
    assert (still.status, still.payment_status, still.payment_intent) == ("open", "unpaid", None)

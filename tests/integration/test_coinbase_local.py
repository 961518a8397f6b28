"""The local Coinbase Commerce server (infra/local/coinbase_server.py) through the production
adapter (shared/providers/coinbase.py).

The server runs in process on a loopback port (werkzeug ``make_server`` in a thread); webhooks
go to a tiny local HTTP receiver and are checked with ``coinbase_gateway.verified_event``, so
these tests prove that the adapter's code path works against the stand-in unchanged. They need
no emulators (the ``stack`` fixture is never requested) and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from infra.local import coinbase_server
from infra.local.coinbase_server import EXTENSION_KEY, ServerConfig, create_app
from shared.engine import clients
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.providers import coinbase as coinbase_gateway
from shared.providers.coinbase import Charge, charge_from, confirmed_cents, verified_event
from tests.webhook_receiver import Delivery, Receiver

API_KEY = "cc_test_api_key_relay"
WEBHOOK_SECRET = "cc_test_webhook_secret_relay"

pytestmark = pytest.mark.timeout(60)


def _receiver() -> Receiver:
    return Receiver(
        signature_header="X-CC-Webhook-Signature",
        identify=lambda body: (body["event"]["type"], body["event"]["data"]["id"]),
    )


@dataclass
class LocalCommerce:
    url: str
    receiver: Receiver
    http: httpx.Client

    def local(self, path: str, **body: Any) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", json=body)

    def api(self, method: str, path: str, *, key: str = API_KEY, **kw: Any) -> httpx.Response:
        headers = {"X-CC-Api-Key": key, "X-CC-Version": "2018-03-22"}
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kw)


@contextlib.contextmanager
def _serve(receiver: Receiver, config: ServerConfig, hooks: tuple[str, ...]) -> Iterator[str]:
    app = create_app(API_KEY, WEBHOOK_SECRET, [f"{receiver.url}{h}" for h in hooks], config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        app.extensions[EXTENSION_KEY].close()
        server.shutdown()
        server.server_close()
        thread.join(5)


FAST = ServerConfig(webhook_retry_delays=(0.1, 0.1), webhook_timeout_s=5.0)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalCommerce]:
    receiver = _receiver()
    try:
        with _serve(receiver, FAST, ("/hooks",)) as url, httpx.Client(timeout=10) as http:
            yield LocalCommerce(url, receiver, http)
    finally:
        receiver.close()


def _use_settings(monkeypatch: pytest.MonkeyPatch, *, base: str, key: str = API_KEY) -> None:
    # An emulator host (never contacted) keeps the settings from reading .local/dev.env and
    # from refusing test secrets; monkeypatch restores every variable afterwards.
    monkeypatch.delenv("RELAY_ENV_FILE", raising=False)
    monkeypatch.delenv("RELAY_ENV", raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("RELAY_COINBASE_API_BASE", base)
    monkeypatch.setenv("COINBASE_COMMERCE_API_KEY", key)
    monkeypatch.setenv("COINBASE_COMMERCE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    get_settings.cache_clear()


@pytest.fixture
def gateway(server: LocalCommerce, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCommerce]:
    _use_settings(monkeypatch, base=server.url)
    clients.http_client.cache_clear()
    try:
        yield server
    finally:
        # Runs before monkeypatch restores the environment, so the next reader reloads it.
        if clients.http_client.cache_info().currsize:
            clients.http_client().close()
        clients.http_client.cache_clear()
        get_settings.cache_clear()


def _new_charge(cents: int = 1000, **metadata: str) -> Charge:
    return coinbase_gateway.create_charge(
        name="Relay credits",
        description="Top-up",
        amount_cents=cents,
        metadata={"account_id": "acct-1", **metadata},
        redirect_url="https://relay.example/paid",
        cancel_url="https://relay.example/cancelled",
    )


def _verified(delivery: Delivery) -> dict[str, Any]:
    return verified_event(delivery.body, delivery.signature)


def _sign(body: bytes) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


# -- charges through the adapter ---------------------------------------------------------------


def test_create_then_get_round_trips_through_the_gateway(gateway: LocalCommerce) -> None:
    charge = _new_charge(1234, order="o-1")
    assert (charge.status, charge.context, charge.price_cents) == ("NEW", None, 1234)
    assert len(charge.code) == 8 and charge.code.isalnum() and charge.code.isupper()
    assert charge.hosted_url == f"{gateway.url}/pay/{charge.code}"
    assert charge.metadata == {"account_id": "acct-1", "order": "o-1"}
    assert charge.payments == () and confirmed_cents(charge) == 0

    assert coinbase_gateway.get_charge(charge.id) == charge
    assert coinbase_gateway.get_charge(charge.code) == charge

    raw = gateway.api("GET", f"/charges/{charge.id}").json()["data"]
    assert raw["resource"] == "charge" and raw["pricing_type"] == "fixed_price"
    assert raw["pricing"] == {"local": {"amount": "12.34", "currency": "USD"}}
    assert raw["redirect_url"] == "https://relay.example/paid"
    assert raw["cancel_url"] == "https://relay.example/cancelled"
    assert raw["confirmed_at"] is None and raw["expires_at"] > raw["created_at"]
    assert [t["status"] for t in raw["timeline"]] == ["NEW"]

    created = _verified(gateway.receiver.wait_for("charge:created", charge.id)[0])
    assert created["resource"] == "event" and created["api_version"] == "2018-03-22"
    assert charge_from(created["data"]) == charge


def test_full_payment_sends_pending_then_confirmed_and_counts_the_price(
    gateway: LocalCommerce,
) -> None:
    charge = _new_charge(1000)
    paid = gateway.local(f"/_local/charges/{charge.id}/pay", amount="10.00", pending_first=True)
    assert paid.status_code == 200, paid.text

    pending = charge_from(
        _verified(gateway.receiver.wait_for("charge:pending", charge.id)[0])["data"]
    )
    assert pending.status == "PENDING"
    assert [p.status for p in pending.payments] == ["PENDING"] and confirmed_cents(pending) == 0

    delivery = gateway.receiver.wait_for("charge:confirmed", charge.id)[0]
    payload = delivery.json
    assert payload["attempt_number"] == 1 and payload["id"] and payload["scheduled_for"]
    event = _verified(delivery)
    assert event["type"] == "charge:confirmed"
    confirmed = charge_from(event["data"])
    assert (confirmed.status, confirmed.context) == ("COMPLETED", None)
    assert confirmed_cents(confirmed) == confirmed.price_cents == 1000
    (payment,) = confirmed.payments
    assert payment.status == "CONFIRMED" and payment.usd_cents == 1000
    assert payment.id.startswith("base:0x")
    assert event["data"]["confirmed_at"] is not None
    assert event["data"]["payments"][0]["value"]["crypto"] == {
        "amount": "10.00",
        "currency": "USDC",
    }

    fetched = coinbase_gateway.get_charge(charge.id)
    assert fetched == confirmed and confirmed_cents(fetched) == 1000
    statuses = [t["status"] for t in event["data"]["timeline"]]
    assert statuses == ["NEW", "PENDING", "COMPLETED"]


def test_underpayment_fails_and_a_top_up_completes_the_charge(gateway: LocalCommerce) -> None:
    charge = _new_charge(1000)
    assert gateway.local(f"/_local/charges/{charge.code}/pay", amount="4.00").status_code == 200
    failed = charge_from(
        _verified(gateway.receiver.wait_for("charge:failed", charge.id)[0])["data"]
    )
    assert (failed.status, failed.context) == ("UNRESOLVED", "UNDERPAID")
    assert confirmed_cents(failed) == 400

    assert gateway.local(f"/_local/charges/{charge.id}/pay", amount="6.00").status_code == 200
    done = charge_from(
        _verified(gateway.receiver.wait_for("charge:confirmed", charge.id)[0])["data"]
    )
    assert (done.status, done.context) == ("COMPLETED", None)
    assert confirmed_cents(done) == 1000 and len(done.payments) == 2
    assert len({p.id for p in done.payments}) == 2


def test_overpayment_is_unresolved_counts_in_full_and_can_be_resolved(
    gateway: LocalCommerce,
) -> None:
    charge = _new_charge(1000)
    assert gateway.local(f"/_local/charges/{charge.id}/pay", amount="12.50").status_code == 200
    event = _verified(gateway.receiver.wait_for("charge:failed", charge.id)[0])
    over = charge_from(event["data"])
    assert (over.status, over.context) == ("UNRESOLVED", "OVERPAID")
    assert confirmed_cents(over) == 1250 and over.price_cents == 1000
    assert gateway.receiver.matching("charge:confirmed", charge.id, "/hooks") == []

    assert gateway.local(f"/_local/charges/{charge.id}/resolve").status_code == 200
    resolved = charge_from(
        _verified(gateway.receiver.wait_for("charge:resolved", charge.id)[0])["data"]
    )
    assert (resolved.status, resolved.context) == ("RESOLVED", "MANUAL")
    assert confirmed_cents(resolved) == 1250
    again = gateway.local(f"/_local/charges/{charge.id}/resolve")
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request"


def test_payment_after_expiry_is_delayed(gateway: LocalCommerce) -> None:
    charge = _new_charge(1000)
    assert gateway.local(f"/_local/charges/{charge.id}/expire").status_code == 200
    expired = charge_from(
        _verified(gateway.receiver.wait_for("charge:failed", charge.id)[0])["data"]
    )
    assert expired.status == "EXPIRED" and confirmed_cents(expired) == 0

    assert gateway.local(f"/_local/charges/{charge.id}/pay", amount="10.00").status_code == 200
    late = charge_from(_verified(gateway.receiver.wait_for("charge:delayed", charge.id)[0])["data"])
    assert (late.status, late.context) == ("UNRESOLVED", "DELAYED")
    assert confirmed_cents(late) == 1000
    assert coinbase_gateway.get_charge(charge.id) == late


def test_a_second_payment_to_a_completed_charge_is_multiple(gateway: LocalCommerce) -> None:
    charge = _new_charge(500)
    gateway.local(f"/_local/charges/{charge.id}/pay")
    gateway.receiver.wait_for("charge:confirmed", charge.id)
    assert gateway.local(f"/_local/charges/{charge.id}/pay", amount="5.00").status_code == 200
    failed = charge_from(
        _verified(gateway.receiver.wait_for("charge:failed", charge.id)[0])["data"]
    )
    assert (failed.status, failed.context) == ("UNRESOLVED", "MULTIPLE")
    assert confirmed_cents(failed) == 1000


def test_charge_expires_on_its_own_after_its_lifetime() -> None:
    receiver = _receiver()
    config = ServerConfig(charge_ttl_s=0.3, expiry_sweep_s=0.05, webhook_retry_delays=(0.1,))
    try:
        with _serve(receiver, config, ("/hooks",)) as url, httpx.Client(timeout=10) as http:
            body = {
                "name": "n",
                "description": "d",
                "pricing_type": "fixed_price",
                "local_price": {"amount": "1.00", "currency": "USD"},
            }
            created = http.post(f"{url}/charges", json=body, headers={"X-CC-Api-Key": API_KEY})
            charge_id = created.json()["data"]["id"]
            delivery = receiver.wait_for("charge:failed", charge_id)[0]
            assert delivery.json["event"]["data"]["timeline"][-1]["status"] == "EXPIRED"
            assert delivery.signature == _sign(delivery.body)
    finally:
        receiver.close()


# -- webhooks --------------------------------------------------------------------------------


def test_resend_delivers_identical_bytes_and_signature(gateway: LocalCommerce) -> None:
    charge = _new_charge(700)
    gateway.local(f"/_local/charges/{charge.id}/pay", amount="7.00")
    first = gateway.receiver.wait_for("charge:confirmed", charge.id)[0]
    event_id = first.json["event"]["id"]

    listed = gateway.http.get(f"{gateway.url}/_local/events", params={"charge": charge.id})
    assert [e["type"] for e in listed.json()["data"]] == ["charge:confirmed", "charge:created"]
    assert listed.json()["data"][0]["id"] == event_id

    resent = gateway.local(f"/_local/events/{event_id}/resend")
    assert resent.status_code == 200, resent.text
    second = gateway.receiver.wait_for("charge:confirmed", charge.id, count=2)[1]
    assert second.body == first.body and second.signature == first.signature
    assert _verified(second)["id"] == event_id
    assert gateway.local("/_local/events/no-such-event/resend").status_code == 404


def test_failed_deliveries_are_retried_with_the_next_attempt_number(
    gateway: LocalCommerce,
) -> None:
    receiver = _receiver()
    try:
        with _serve(receiver, FAST, ()) as url, httpx.Client(timeout=10) as http:
            added = http.post(
                f"{url}/_local/webhook_endpoints", json={"url": f"{receiver.url}/flaky"}
            )
            assert added.status_code == 200
            body = {
                "name": "n",
                "description": "d",
                "pricing_type": "fixed_price",
                "local_price": {"amount": "2.00", "currency": "USD"},
            }
            created = http.post(f"{url}/charges", json=body, headers={"X-CC-Api-Key": API_KEY})
            charge_id = created.json()["data"]["id"]
            tries = receiver.wait_for("charge:created", charge_id, count=3, path="/flaky")
            assert [d.json["attempt_number"] for d in tries] == [1, 2, 3]
            assert len({d.json["event"]["id"] for d in tries}) == 1
            assert all(d.signature == _sign(d.body) for d in tries)
            assert [_verified(d)["type"] for d in tries] == ["charge:created"] * 3
    finally:
        receiver.close()


def test_missing_or_wrong_signature_or_bad_body_is_invalid(gateway: LocalCommerce) -> None:
    charge = _new_charge(300)
    delivery = gateway.receiver.wait_for("charge:created", charge.id)[0]
    for signature in (None, "", "00" * 32, delivery.signature.upper() + "0", "ünïcode"):
        with pytest.raises(AppError) as caught:
            verified_event(delivery.body, signature)
        assert caught.value.kind == ErrorKind.INVALID
    with pytest.raises(AppError) as tampered:
        verified_event(delivery.body.replace(b'"USD"', b'"EUR"'), delivery.signature)
    assert tampered.value.kind == ErrorKind.INVALID
    for body in (b"not json", b"[]", b'{"event": {"id": "e", "data": {}}}', b'{"id": "x"}'):
        with pytest.raises(AppError) as malformed:
            verified_event(body, _sign(body))
        assert malformed.value.kind == ErrorKind.INVALID


# -- errors ----------------------------------------------------------------------------------


def test_wrong_or_missing_api_key_is_refused(
    gateway: LocalCommerce, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = gateway.http.get(f"{gateway.url}/charges")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert gateway.api("GET", "/charges", key="wrong").status_code == 401

    _use_settings(monkeypatch, base=gateway.url, key="wrong-key")
    with pytest.raises(AppError) as caught:
        _new_charge(100)
    assert caught.value.kind == ErrorKind.INTERNAL


def test_unknown_charge_is_not_found(gateway: LocalCommerce) -> None:
    for key in ("00000000-0000-0000-0000-000000000000", "ZZZZZZZZ", "../charges"):
        with pytest.raises(AppError) as caught:
            coinbase_gateway.get_charge(key)
        assert caught.value.kind == ErrorKind.NOT_FOUND
    raw = gateway.api("GET", "/charges/nope")
    assert raw.status_code == 404
    assert raw.json() == {"error": {"type": "not_found", "message": "Not found"}}
    assert gateway.local("/_local/charges/nope/pay").status_code == 404


def test_unreachable_api_is_unavailable(
    gateway: LocalCommerce, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        _use_settings(monkeypatch, base=f"http://127.0.0.1:{sock.getsockname()[1]}")
        with pytest.raises(AppError) as caught:
            coinbase_gateway.get_charge("anything")
    assert caught.value.kind == ErrorKind.UNAVAILABLE


@pytest.mark.parametrize(
    ("change", "message_part"),
    [
        ({"pricing_type": "no_price"}, "pricing_type"),
        ({"local_price": None}, "local_price"),
        ({"local_price": {"amount": "10.00", "currency": "EUR"}}, "currency"),
        ({"local_price": {"amount": "10.005", "currency": "USD"}}, "amount"),
        ({"local_price": {"amount": 10, "currency": "USD"}}, "amount"),
        ({"local_price": {"amount": "0.00", "currency": "USD"}}, "amount"),
        ({"name": ""}, "name"),
        ({"metadata": {"n": 1}}, "metadata"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_charge_requests_are_invalid_and_change_nothing(
    server: LocalCommerce, change: dict[str, Any], message_part: str
) -> None:
    before = server.api("GET", "/charges").json()["pagination"]["total"]
    body = {
        "name": "n",
        "description": "d",
        "pricing_type": "fixed_price",
        "local_price": {"amount": "10.00", "currency": "USD"},
        **change,
    }
    response = server.api("POST", "/charges", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and message_part in error["message"]
    assert server.api("GET", "/charges").json()["pagination"]["total"] == before


def test_gateway_refuses_a_non_positive_amount_before_calling(gateway: LocalCommerce) -> None:
    for cents in (0, -5, True):
        with pytest.raises(AppError) as caught:
            _new_charge(cents)
        assert caught.value.kind == ErrorKind.INVALID


def test_charge_parsing_refuses_non_usd_and_counts_only_confirmed_cents() -> None:
    data: dict[str, Any] = {
        "id": "c",
        "code": "ABCDEFGH",
        "hosted_url": "h",
        "pricing": {"local": {"amount": "10.00", "currency": "USD"}},
        "timeline": [{"time": "t", "status": "NEW"}, {"time": "t", "status": "pending"}],
        "payments": [
            {
                "network": "base",
                "transaction_id": "0x1",
                "status": "confirmed",
                "value": {"local": {"amount": "3.009", "currency": "USD"}},
            },
            {
                "network": "base",
                "transaction_id": "0x2",
                "status": "PENDING",
                "value": {"local": {"amount": "5", "currency": "USD"}},
            },
        ],
        "metadata": {"k": "v"},
    }
    charge = charge_from(data)
    assert (charge.status, charge.price_cents) == ("PENDING", 1000)
    assert [p.usd_cents for p in charge.payments] == [300, 500]
    assert confirmed_cents(charge) == 300
    for broken in (
        {**data, "pricing": {"local": {"amount": "10.00", "currency": "EUR"}}},
        {**data, "pricing": {"local": {"amount": "10.001", "currency": "USD"}}},
        {**data, "pricing": {"local": {"amount": "NaN", "currency": "USD"}}},
        {
            **data,
            "payments": [
                {**data["payments"][0], "value": {"local": {"amount": "1", "currency": "EUR"}}}
            ],
        },
        {k: v for k, v in data.items() if k != "timeline"},
    ):
        with pytest.raises(AppError) as caught:
            charge_from(broken)
        assert caught.value.kind == ErrorKind.INVALID


# -- the rest of the API and the local pages ---------------------------------------------------


def test_cancel_only_while_new(gateway: LocalCommerce) -> None:
    charge = _new_charge(100)
    canceled = gateway.api("POST", f"/charges/{charge.code}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["data"]["timeline"][-1]["status"] == "CANCELED"
    assert coinbase_gateway.get_charge(charge.id).status == "CANCELED"
    again = gateway.api("POST", f"/charges/{charge.id}/cancel")
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request"


def test_list_charges_paginates_newest_first(gateway: LocalCommerce) -> None:
    ids = [_new_charge(100 + i).id for i in range(3)]
    page = gateway.api("GET", "/charges", params={"limit": 2}).json()
    assert [c["id"] for c in page["data"]] == ids[::-1][:2]
    assert page["pagination"]["yielded"] == 2 and page["pagination"]["next_uri"]
    rest = gateway.api(
        "GET", "/charges", params={"limit": 1, "starting_after": page["data"][-1]["id"]}
    ).json()
    assert [c["id"] for c in rest["data"]] == [ids[0]]


def test_hosted_page_pays_in_full_and_redirects(gateway: LocalCommerce) -> None:
    charge = _new_charge(899)
    page = gateway.http.get(charge.hosted_url)
    assert page.status_code == 200 and "$8.99 USD" in page.text and "<form" in page.text
    paid = gateway.http.post(f"{gateway.url}/pay/{charge.code}", data={"amount": "8.99"})
    assert paid.status_code == 303 and paid.headers["location"] == "https://relay.example/paid"
    assert confirmed_cents(coinbase_gateway.get_charge(charge.id)) == 899
    assert gateway.http.get(f"{gateway.url}/pay/NOPE1234").status_code == 404


def test_cli_pay_subcommand_pays_a_charge_by_code(
    gateway: LocalCommerce, capsys: pytest.CaptureFixture[str]
) -> None:
    charge = _new_charge(250)
    rc = coinbase_server.main(["pay", charge.code, "--amount", "2.50", "--url", gateway.url])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["data"]["timeline"][-1]["status"] == "COMPLETED"
    assert coinbase_gateway.get_charge(charge.id).status == "COMPLETED"


def test_charges_api_takes_json_only(server: LocalCommerce) -> None:
    form = server.api("POST", "/charges", data={"name": "n", "pricing_type": "fixed_price"})
    assert form.status_code == 400 and form.json()["error"]["type"] == "invalid_request"
    headers = {"X-CC-Api-Key": API_KEY, "Content-Type": "application/json"}
    broken = server.http.post(f"{server.url}/charges", content=b"{", headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request"

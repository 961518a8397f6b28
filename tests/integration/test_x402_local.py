"""x402 end to end on loopback: shared/providers/x402.py against the local facilitator.

The facilitator (infra/local/x402_facilitator.py) runs in-process on a free loopback port and
the payer is the local wallet (infra/local/x402_wallet.py), both built on the real `x402` SDK,
so these tests prove the production adapter speaks the facilitator's wire format and that the
local chain checks what USDC checks. No emulators are needed; every call is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account import Account
from werkzeug.serving import make_server
from x402.http import decode_payment_required_header, decode_payment_response_header

from infra.local.x402_facilitator import DEFAULT_ASSET, create_app
from infra.local.x402_wallet import pay_header
from shared.engine import clients, settings
from shared.engine.errors import AppError, ErrorKind
from shared.providers import x402 as x402_gateway

pytestmark = pytest.mark.timeout(60)

PAY_TO = "0x5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E"
OTHER_PAY_TO = "0x0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD"
NETWORK = "eip155:84532"
BASE_MAINNET_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
RESOURCE = "http://127.0.0.1:8082/api/v1/credits/purchase/x402"
INITIAL_ATOMIC = 1_000_000 * 10**6


@dataclass
class Facilitator:
    url: str
    stop: Callable[[], None]

    def balance(self, address: str) -> int:
        answer = httpx.get(f"{self.url}/_local/balances/{address}", timeout=5).json()
        return int(answer["balanceAtomic"])

    def set_balance(self, address: str, atomic: int) -> None:
        httpx.post(
            f"{self.url}/_local/balances/{address}", json={"balanceAtomic": atomic}, timeout=5
        ).raise_for_status()


def _start_facilitator() -> Facilitator:
    server = make_server("127.0.0.1", 0, create_app(network=NETWORK), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return Facilitator(url=f"http://127.0.0.1:{server.server_port}", stop=stop)


@pytest.fixture(scope="module")
def facilitator() -> Iterator[Facilitator]:
    running = _start_facilitator()
    yield running
    running.stop()


def _point_at(monkeypatch: pytest.MonkeyPatch, url: str, *, pay_to: str = PAY_TO) -> None:
    if "FIRESTORE_EMULATOR_HOST" not in os.environ:  # local settings, no dev.env, no emulator
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.delenv("RELAY_ENV_FILE", raising=False)
    monkeypatch.setenv("RELAY_ENV", "local")
    monkeypatch.setenv("RELAY_X402_FACILITATOR_URL", url)
    monkeypatch.setenv("RELAY_X402_PAY_TO", pay_to)
    monkeypatch.setenv("RELAY_X402_NETWORK", NETWORK)
    monkeypatch.setenv("RELAY_X402_ASSET", DEFAULT_ASSET)
    settings.get_settings.cache_clear()
    clients.http_client.cache_clear()


@pytest.fixture
def x402_env(monkeypatch: pytest.MonkeyPatch, facilitator: Facilitator) -> Iterator[Facilitator]:
    _point_at(monkeypatch, facilitator.url)
    yield facilitator
    settings.get_settings.cache_clear()  # monkeypatch restores the environment right after
    clients.http_client.cache_clear()


@pytest.fixture
def payer() -> Any:
    return Account.create()


def _required(usd_cents: int = 500, error: str | None = None) -> str:
    return x402_gateway.payment_required_header(
        usd_cents=usd_cents, resource_url=RESOURCE, description="credit", error=error
    )


def _settle(header: str, usd_cents: int = 500) -> x402_gateway.Settlement:
    return x402_gateway.verify_and_settle(
        header_value=header, usd_cents=usd_cents, resource_url=RESOURCE, description="credit"
    )


def _decode(header: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(header))


def _encode(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def _resign(header: str, private_key: str, **authorization: str) -> str:
    """The payment with authorization fields changed and signed again, validly, for them."""
    data = _decode(header)
    auth = {**data["payload"]["authorization"], **authorization}
    accepted = data["accepted"]
    signed = Account.from_key(private_key).sign_typed_data(
        domain_data={
            "name": accepted["extra"]["name"],
            "version": accepted["extra"]["version"],
            "chainId": int(accepted["network"].split(":")[1]),
            "verifyingContract": accepted["asset"],
        },
        message_types={
            "TransferWithAuthorization": [
                {"name": "from", "type": "address"},
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"},
                {"name": "nonce", "type": "bytes32"},
            ]
        },
        message_data={**auth, **{k: int(auth[k]) for k in ("value", "validAfter", "validBefore")}},
    )
    data["payload"] = {"authorization": auth, "signature": "0x" + bytes(signed.signature).hex()}
    return _encode(data)


def _rejected(header: str, usd_cents: int = 500) -> x402_gateway.PaymentRejected:
    with pytest.raises(x402_gateway.PaymentRejected) as caught:
        _settle(header, usd_cents)
    decoded = decode_payment_required_header(caught.value.required_header)
    assert decoded.x402_version == 2 and decoded.error == caught.value.reason
    return caught.value


def test_payment_required_header_asks_v2_exact_usdc_for_the_price(x402_env: Facilitator) -> None:
    data = _decode(_required(usd_cents=1234))
    assert data["x402Version"] == 2
    assert data["resource"]["url"] == RESOURCE
    [accept] = data["accepts"]
    assert accept["scheme"] == "exact" and accept["network"] == NETWORK
    assert accept["asset"] == DEFAULT_ASSET and accept["payTo"] == PAY_TO
    assert accept["amount"] == str(1234 * 10_000)
    assert accept["extra"] == {"name": "USDC", "version": "2"}
    req = x402_gateway.requirements(usd_cents=1234, resource_url=RESOURCE, description="credit")
    assert req.amount == "12340000" and req.pay_to == PAY_TO
    with pytest.raises(AppError) as caught:
        _required(usd_cents=0)
    assert caught.value.kind is ErrorKind.INVALID


def test_wallet_payment_verifies_and_settles_moving_usdc(x402_env: Facilitator, payer: Any) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())
    pay_to_before = x402_env.balance(PAY_TO)
    assert x402_gateway.payment_header({"payment-signature": header}) == header
    settled = _settle(header)
    assert settled.payer == payer.address
    assert settled.network == NETWORK and settled.amount_atomic == 5_000_000
    assert settled.transaction.startswith("0x") and len(settled.transaction) == 66
    assert settled.payment_id == x402_gateway.payment_id(header)
    receipt = decode_payment_response_header(settled.response_header)
    assert receipt.success and receipt.transaction == settled.transaction
    assert receipt.payer == payer.address and receipt.network == NETWORK
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC - 5_000_000
    assert x402_env.balance(PAY_TO) == pay_to_before + 5_000_000


def test_replayed_header_is_rejected_as_used_nonce_with_the_same_payment_id(
    x402_env: Facilitator, payer: Any
) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())
    first_id = x402_gateway.payment_id(header)
    settled = _settle(header)
    rejected = _rejected(header)
    assert rejected.reason == "invalid_exact_evm_nonce_already_used"
    assert x402_gateway.payment_id(header) == first_id == settled.payment_id
    # The legacy header name carries the same payment, so the same id.
    assert x402_gateway.payment_header({"X-PAYMENT": header}) == header
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC - 5_000_000


def test_concurrent_settles_of_one_payment_move_money_once(
    x402_env: Facilitator, payer: Any
) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())

    def attempt(_: int) -> str:
        try:
            return _settle(header).transaction
        except x402_gateway.PaymentRejected as exc:
            return exc.reason

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert sum(outcome.startswith("0x") for outcome in outcomes) == 1, outcomes
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC - 5_000_000


def test_settling_a_used_authorization_fails_like_on_chain(
    x402_env: Facilitator, payer: Any
) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())
    payload = _decode(header)
    body = {"x402Version": 2, "paymentPayload": payload, "paymentRequirements": payload["accepted"]}
    first = httpx.post(f"{x402_env.url}/settle", json=body, timeout=10).json()
    second = httpx.post(f"{x402_env.url}/settle", json=body, timeout=10)
    assert first["success"] is True
    assert second.status_code == 200
    assert second.json()["success"] is False
    assert second.json()["errorReason"] == "invalid_exact_evm_nonce_already_used"
    assert second.json()["transaction"] == ""
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC - 5_000_000


def test_header_signed_for_fewer_cents_is_rejected(x402_env: Facilitator, payer: Any) -> None:
    cheap = pay_header(_required(usd_cents=100), private_key=payer.key.hex())
    assert _rejected(cheap, usd_cents=500).reason == x402_gateway.NO_MATCH
    # Claiming the full price while authorizing less: the facilitator compares the signed value.
    data = _decode(cheap)
    data["accepted"]["amount"] = str(500 * 10_000)
    forged = _encode(data)
    assert _rejected(forged).reason == "invalid_exact_evm_payload_authorization_value_mismatch"
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC


def test_tampered_signature_is_rejected(x402_env: Facilitator, payer: Any) -> None:
    data = _decode(pay_header(_required(), private_key=payer.key.hex()))
    signature = data["payload"]["signature"]
    data["payload"]["signature"] = (
        signature[:10] + ("0" if signature[10] != "0" else "1") + (signature[11:])
    )
    assert _rejected(_encode(data)).reason == "invalid_exact_evm_payload_signature"
    # A valid signature by someone else for the payer's authorization is no better.
    stranger = Account.create()
    other = _decode(_resign(_encode(data), stranger.key.hex()))
    other["payload"]["authorization"]["from"] = payer.address
    assert _rejected(_encode(other)).reason == "invalid_exact_evm_payload_signature"
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC


def test_wrong_pay_to_is_rejected(
    x402_env: Facilitator, payer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_at(monkeypatch, x402_env.url, pay_to=OTHER_PAY_TO)
    elsewhere = pay_header(_required(), private_key=payer.key.hex())
    _point_at(monkeypatch, x402_env.url, pay_to=PAY_TO)
    assert _rejected(elsewhere).reason == x402_gateway.NO_MATCH
    data = _decode(elsewhere)
    data["accepted"]["payTo"] = PAY_TO  # matches our terms, but the money goes elsewhere
    assert _rejected(_encode(data)).reason == "invalid_exact_evm_payload_recipient_mismatch"
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC


def test_wrong_network_is_rejected(x402_env: Facilitator, payer: Any) -> None:
    required = _decode(_required())
    required["accepts"][0].update(network="eip155:8453", asset=BASE_MAINNET_USDC)
    mainnet = pay_header(_encode(required), private_key=payer.key.hex())
    assert _rejected(mainnet).reason == x402_gateway.NO_MATCH
    # Signed for Base mainnet, presented as Base Sepolia: the EIP-712 domain gives it away.
    data = _decode(mainnet)
    data["accepted"].update(network=NETWORK, asset=DEFAULT_ASSET)
    assert _rejected(_encode(data)).reason == "invalid_exact_evm_payload_signature"
    assert x402_env.balance(payer.address) == INITIAL_ATOMIC


def test_expired_and_unfunded_authorizations_are_rejected(
    x402_env: Facilitator, payer: Any
) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())
    expired = _resign(header, payer.key.hex(), validBefore="1700000000")
    assert _rejected(expired).reason == "invalid_exact_evm_payload_authorization_valid_before"
    x402_env.set_balance(payer.address, 4_999_999)
    assert _rejected(header).reason == "invalid_exact_evm_insufficient_balance"
    assert x402_env.balance(payer.address) == 4_999_999


@pytest.mark.parametrize(
    "header",
    [
        "",
        "%%% not base64 %%%",
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b'{"x402Version": 2, "payload": {}}').decode(),
        base64.b64encode(b'{"x402Version": 1, "scheme": "exact", "network": "base"}').decode(),
    ],
)
def test_malformed_header_is_invalid(x402_env: Facilitator, header: str) -> None:
    with pytest.raises(AppError) as caught:
        x402_gateway.payment_id(header)
    assert caught.value.kind is ErrorKind.INVALID
    with pytest.raises(AppError) as caught:
        _settle(header)
    assert caught.value.kind is ErrorKind.INVALID


def test_payment_without_eip3009_authorization_is_invalid(
    x402_env: Facilitator, payer: Any
) -> None:
    data = _decode(pay_header(_required(), private_key=payer.key.hex()))
    del data["payload"]["authorization"]["nonce"]
    with pytest.raises(AppError) as caught:
        x402_gateway.payment_id(_encode(data))
    assert caught.value.kind is ErrorKind.INVALID
    assert x402_gateway.payment_header({"Authorization": "Bearer x"}) is None


def test_facilitator_down_is_unavailable(
    x402_env: Facilitator, payer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = pay_header(_required(), private_key=payer.key.hex())
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _point_at(monkeypatch, dead)
    for call in (lambda: _required(), lambda: _settle(header)):
        with pytest.raises(AppError) as caught:
            call()
        assert caught.value.kind is ErrorKind.UNAVAILABLE
    # A facilitator that goes away after we have talked to it: still an outage, not a refusal.
    brief = _start_facilitator()
    _point_at(monkeypatch, brief.url)
    header = pay_header(_required(), private_key=payer.key.hex())
    brief.stop()
    with pytest.raises(AppError) as caught:
        _settle(header)
    assert caught.value.kind is ErrorKind.UNAVAILABLE


def _purchase_endpoint() -> Any:
    """The handler contract in miniature: 402 + PAYMENT-REQUIRED, then 201 + PAYMENT-RESPONSE."""
    import flask

    app = flask.Flask("x402-purchase")

    @app.post("/api/v1/credits/purchase/x402")
    def purchase() -> Any:
        assert flask.request.headers["Authorization"] == "Bearer kt_test"
        cents = int(flask.request.get_json()["usdCents"])
        header = x402_gateway.payment_header(flask.request.headers)
        if header is None:
            return (
                flask.jsonify({"error": "payment required"}),
                402,
                {"PAYMENT-REQUIRED": _required(cents)},
            )
        try:
            settled = _settle(header, cents)
        except x402_gateway.PaymentRejected as exc:
            return (
                flask.jsonify({"error": exc.reason}),
                402,
                {"PAYMENT-REQUIRED": exc.required_header},
            )
        body = {"paymentId": settled.payment_id, "depositUsdCents": cents}
        return flask.jsonify(body), 201, {"PAYMENT-RESPONSE": settled.response_header}

    return app


def test_wallet_cli_buys_through_a_402_endpoint(
    x402_env: Facilitator, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.local import x402_wallet

    server = make_server("127.0.0.1", 0, _purchase_endpoint(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/credits/purchase/x402"
    buyer = Account.create()
    try:
        argv = ["buy", "--url", url, "--api-key", "kt_test", "--usd-cents", "250"]
        assert x402_wallet.main([*argv, "--private-key", buyer.key.hex()]) == 0
    finally:
        server.shutdown()
        server.server_close()
    printed = capsys.readouterr().out
    assert "status: 201" in printed and '"success": true' in printed
    assert x402_env.balance(buyer.address) == INITIAL_ATOMIC - 2_500_000

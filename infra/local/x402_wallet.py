"""A local x402 payer: answers a PAYMENT-REQUIRED with a signed PAYMENT-SIGNATURE.

It is the SDK's own client side (`x402ClientSync` with the exact EVM scheme) over an
eth_account key, so what it sends is what any x402 v2 wallet sends: base64 JSON of a
PaymentPayload whose `payload` is an EIP-3009 `transferWithAuthorization` signed with
EIP-712 for the asset named in the requirements. It never pays more than asked: `pay_header`
refuses requirements above `max_amount_atomic`, and `buy` caps at the cents it was told.

TEST-ONLY default key: `DEFAULT_PRIVATE_KEY` is keccak256("relay-local-x402-test-wallet"),
public by construction; it holds value only on the local facilitator's in-memory chain. Never
send real funds to its address (`python -m infra.local.x402_wallet address`).

CLI:
  python -m infra.local.x402_wallet buy --url http://127.0.0.1:8082/api/v1/credits/purchase/x402
      --api-key kt_... --usd-cents 500 [--private-key 0x..]
  python -m infra.local.x402_wallet sign --required <PAYMENT-REQUIRED value> [--private-key 0x..]
  python -m infra.local.x402_wallet address [--private-key 0x..]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from eth_account import Account
from eth_utils import keccak

from shared.providers.x402 import ATOMIC_PER_CENT

DEFAULT_PRIVATE_KEY = "0x" + keccak(text="relay-local-x402-test-wallet").hex()


def address_of(private_key: str) -> str:
    return str(Account.from_key(private_key).address)


def pay_header(
    required_header: str, *, private_key: str, max_amount_atomic: int | None = None
) -> str:
    """The PAYMENT-SIGNATURE value paying the first acceptable requirement of `required_header`."""
    from x402 import max_amount, x402ClientSync
    from x402.http import decode_payment_required_header, encode_payment_signature_header
    from x402.mechanisms.evm.exact import register_exact_evm_client

    required = decode_payment_required_header(required_header)
    client = x402ClientSync()
    register_exact_evm_client(client, Account.from_key(private_key))
    # The SDK's default cap ($1, known assets only) would refuse a $5 top-up; cap explicitly.
    client.set_spend_controls(False)
    if max_amount_atomic is not None:
        client.register_policy(max_amount(max_amount_atomic))
    return encode_payment_signature_header(client.create_payment_payload(required))


def buy(*, url: str, api_key: str, usd_cents: int, private_key: str, timeout_s: float) -> int:
    """POST a purchase, pay its 402, retry with the payment; print what came back."""
    import httpx
    from x402.http import decode_payment_response_header

    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"usdCents": usd_cents}
    with httpx.Client(timeout=timeout_s) as http:
        first = http.post(url, json=body, headers=headers)
        required = first.headers.get("PAYMENT-REQUIRED")
        if first.status_code != 402 or not required:
            print(f"expected 402 with PAYMENT-REQUIRED, got {first.status_code}: {first.text}")
            return 1
        payment = pay_header(
            required, private_key=private_key, max_amount_atomic=usd_cents * ATOMIC_PER_CENT
        )
        paid = http.post(url, json=body, headers={**headers, "PAYMENT-SIGNATURE": payment})
    print(f"status: {paid.status_code}")
    try:
        print("body:", json.dumps(paid.json(), indent=2))
    except ValueError:
        print("body:", paid.text)
    receipt = paid.headers.get("PAYMENT-RESPONSE")
    if receipt:
        settled = decode_payment_response_header(receipt)
        print("PAYMENT-RESPONSE:", json.dumps(settled.model_dump(mode="json"), indent=2))
    else:
        retry = paid.headers.get("PAYMENT-REQUIRED")
        if retry:
            print("PAYMENT-REQUIRED:", _decoded(retry))
    return 0 if paid.is_success else 1


def _decoded(required_header: str) -> str:
    from x402.http import decode_payment_required_header

    answer = decode_payment_required_header(required_header)
    return json.dumps(answer.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.x402_wallet", description="Local x402 payer (test key)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    buy_cmd = commands.add_parser("buy", help="buy credit through an x402 endpoint")
    buy_cmd.add_argument("--url", required=True)
    buy_cmd.add_argument("--api-key", required=True)
    buy_cmd.add_argument("--usd-cents", type=int, required=True)
    buy_cmd.add_argument("--timeout-s", type=float, default=60.0)
    sign_cmd = commands.add_parser("sign", help="print a PAYMENT-SIGNATURE for a 402")
    sign_cmd.add_argument("--required", required=True, help="the PAYMENT-REQUIRED value")
    sign_cmd.add_argument("--max-amount-atomic", type=int)
    address_cmd = commands.add_parser("address", help="print the wallet's address")
    for command in (buy_cmd, sign_cmd, address_cmd):
        command.add_argument(
            "--private-key", default=DEFAULT_PRIVATE_KEY, help="default: the test-only key"
        )
    args = parser.parse_args(argv)
    if args.command == "address":
        print(address_of(args.private_key))
        return 0
    if args.command == "sign":
        print(
            pay_header(
                args.required,
                private_key=args.private_key,
                max_amount_atomic=args.max_amount_atomic,
            )
        )
        return 0
    if args.usd_cents <= 0:
        parser.error("--usd-cents must be positive")
    return buy(
        url=args.url,
        api_key=args.api_key,
        usd_cents=args.usd_cents,
        private_key=args.private_key,
        timeout_s=args.timeout_s,
    )


if __name__ == "__main__":
    sys.exit(main())

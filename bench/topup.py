"""Top-up settlement under races: Killa Tamata claims racing Stripe webhook deliveries.

Starts its own stack on free ports (no GPU workers). For N paid Stripe Checkout Sessions
(the local Stripe server's own webhook endpoint is removed first, so only our traffic
counts), it fires, all at once, for every session: one `POST /api/v1/claim/stripe` and
R deliveries of the same signed `checkout.session.completed` event to
`/api/v1/webhooks/stripe`. Each session is paid with its own card (`--same-card`: all with
the default one, so every settlement writes one payment-fingerprint document). It then
checks every account holds exactly its package, once.

Prints claim and webhook latency (p50/p99), settled top-ups per second, the floor (one
bare ledger credit batch per top-up, at the same concurrency on the same emulators), then
`x402 p50=` (a full 402 + pay + settle purchase), and last
`topup_ratio=<claim p50 over floor p50> double_credits=<n>`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.submit import percentile

STRIPE_KEY = {"Authorization": "Bearer sk_test_local"}


def signed(payload: bytes, secret: str) -> str:
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def card_number(i: int) -> str:
    """Customer `i`'s own test card (Luhn-valid): each session pays with a different card,
    as different customers do (the payment fingerprint document is per card)."""
    body = f"4000{i:011d}"
    total = 0
    for k, ch in enumerate(reversed(body)):
        digit = int(ch)
        if k % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def timed(fn):
    def run():
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--replays", type=int, default=5)
    parser.add_argument("--x402", type=int, default=10)
    parser.add_argument(
        "--same-card",
        action="store_true",
        help="every session paid with the one default card (one payer behind all accounts)",
    )
    args = parser.parse_args()

    from infra.local.stack import STRIPE_WEBHOOK_SECRET, Stack

    stack = Stack.on_free_ports(workers=False)
    try:
        stack.start()
        from shared.engine import identity, ledger

        api = f"http://127.0.0.1:{stack.ports['media']}/api/v1"
        stripe = f"http://127.0.0.1:{stack.ports['stripe']}"
        for endpoint in httpx.get(f"{stripe}/_local/webhook_endpoints").json()["data"]:
            httpx.delete(f"{stripe}/_local/webhook_endpoints/{endpoint['id']}")
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        client = httpx.Client(timeout=120, limits=limits)

        sessions = []
        for _ in range(args.sessions):
            account = identity.create_account(email=f"bench-{uuid.uuid4().hex[:12]}@example.com")
            key = identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)
            auth = {"Authorization": f"Bearer {key}"}
            sid = client.post(
                f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=auth
            ).json()["sessionId"]
            card = {} if args.same_card else {"card": card_number(len(sessions))}
            client.post(f"{stripe}/_local/checkout/{sid}/complete", json=card).raise_for_status()
            event = next(
                e
                for e in client.get(
                    f"{stripe}/v1/events",
                    params={"type": "checkout.session.completed", "limit": 100},
                    headers=STRIPE_KEY,
                ).json()["data"]
                if e["data"]["object"]["id"] == sid
            )
            sessions.append((account.id, auth, sid, json.dumps(event).encode()))

        work = []  # (kind, call): each session's claim beside its webhook deliveries
        for _, auth, sid, payload in sessions:
            work.append(
                (
                    "claim",
                    timed(
                        lambda auth=auth, sid=sid: (
                            client.post(
                                f"{api}/claim/stripe", json={"sessionId": sid}, headers=auth
                            ).status_code
                        )
                    ),
                )
            )
            work += [
                (
                    "webhook",
                    timed(
                        lambda payload=payload: (
                            client.post(
                                f"{api}/webhooks/stripe",
                                content=payload,
                                headers={
                                    "Stripe-Signature": signed(payload, STRIPE_WEBHOOK_SECRET)
                                },
                            ).status_code
                        )
                    ),
                )
                for _ in range(args.replays)
            ]
        concurrency = len(work)
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [(kind, pool.submit(call)) for kind, call in work]
            outcomes = [(kind, *f.result()) for kind, f in futures]
        wall = time.perf_counter() - start
        claim_lat = [lat for kind, lat, _ in outcomes if kind == "claim"]
        hook_lat = [lat for kind, lat, _ in outcomes if kind == "webhook"]
        statuses = {status for _, _, status in outcomes}
        double = sum(
            1
            for account_id, *_ in sessions
            if ledger.balance(account_id).balance_micros != 5_000_000
            or len([e for e in ledger.entries(account_id) if e["kind"] == "topup"]) != 1
        )

        # The floor: the same burst shape with nothing but the ledger write, in process: per
        # session 1 + R racing bare credit batches on one entry id (one lands).
        def floor_credit(ref: str, account: str):
            return timed(
                lambda: ledger.credit(
                    account_id=account, kind=ledger.EntryKind.TOPUP, ref=ref, micros=5_000_000
                )
            )

        floor_work = []
        for i in range(len(sessions)):
            account = f"bench-floor-{uuid.uuid4().hex}"
            floor_work += [floor_credit(f"floor:{account}:{i}", account)] * (1 + args.replays)
        fstart = time.perf_counter()
        with ThreadPoolExecutor(len(floor_work)) as pool:
            floor = [f.result()[0] for f in [pool.submit(w) for w in floor_work]]
        fwall = time.perf_counter() - fstart

        print(
            f"{len(sessions)} sessions x (1 claim + {args.replays} webhooks), {concurrency} "
            f"requests at once, statuses {sorted(statuses)}"
        )
        print(
            f"claim   p50={percentile(claim_lat, 0.5) * 1000:7.1f} ms "
            f"p99={percentile(claim_lat, 0.99) * 1000:7.1f} ms"
        )
        print(
            f"webhook p50={percentile(hook_lat, 0.5) * 1000:7.1f} ms "
            f"p99={percentile(hook_lat, 0.99) * 1000:7.1f} ms"
        )
        print(f"settled {len(sessions) / wall:6.1f} top-ups/s (all requests done in {wall:.2f} s)")
        print(
            f"floor   p50={percentile(floor, 0.5) * 1000:7.1f} ms "
            f"p99={percentile(floor, 0.99) * 1000:7.1f} ms  {len(sessions) / fwall:6.1f} top-ups/s"
        )

        # Uncontended: one paid session claimed at a time (its webhooks already landed).
        alone = []
        for _, auth, sid, _ in sessions[:10]:
            start = time.perf_counter()
            client.post(f"{api}/claim/stripe", json={"sessionId": sid}, headers=auth)
            alone.append(time.perf_counter() - start)
        print(f"claim alone (a replay) p50={percentile(alone, 0.5) * 1000:.1f} ms")

        from infra.local.x402_wallet import pay_header

        account = identity.create_account(email=f"bench-{uuid.uuid4().hex[:12]}@example.com")
        key = identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)
        auth = {"Authorization": f"Bearer {key}"}
        x402 = []
        for _ in range(args.x402 + 1):  # the first one warms the SDK import up, not counted
            start = time.perf_counter()
            required = client.post(
                f"{api}/credits/purchase/x402", json={"usdCents": 100}, headers=auth
            ).headers["PAYMENT-REQUIRED"]
            header = pay_header(required, private_key="0x" + uuid.uuid4().hex * 2)
            status = client.post(
                f"{api}/credits/purchase/x402",
                json={"usdCents": 100},
                headers={**auth, "PAYMENT-SIGNATURE": header},
            ).status_code
            assert status == 201, status
            x402.append(time.perf_counter() - start)
        x402 = x402[1:]
        print(
            f"x402 p50={percentile(x402, 0.5) * 1000:.1f} ms "
            f"p99={percentile(x402, 0.99) * 1000:.1f} ms (402, sign, settle, credit)"
        )
        print(
            f"topup_ratio={percentile(claim_lat, 0.5) / percentile(floor, 0.5):.2f} "
            f"double_credits={double}"
        )
        client.close()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

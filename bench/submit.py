"""Submit throughput and latency of PicShapes jobs, next to the emulators' own floor.

Starts its own stack on free ports (no GPU workers: jobs are dispatched to RunPod and wait
there, so only the submit path is measured), then:

1. latency: N concurrent clients, each on its own account, POST /api/v1/jobs; p50/p99 and
   jobs/s, beside the floor = one bare Firestore read-then-write transaction plus one Cloud
   Tasks create per request, at the same concurrency on the same emulators;
2. hot account: 100 concurrent submits on ONE account (each client with its own key, so
   the per-key rate limit is not what is measured) vs the same over 100 accounts.

Also prints the HTTP hop alone (a route answered before any store call, same clients), the
part of a submit the in-process floor does not pay.

Prints the figures, then `hot_ratio=<one account jobs/s over many accounts jobs/s>` and
last `ratio p50=<submit p50 over floor p50> p99=<submit p99 over floor p99>`.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

BODY = {"prompt": "benchmark", "model": "flux-schnell", "tier": "basic", "width": 64, "height": 64}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_clients(work: list, clients: int) -> tuple[list[float], float, list[int]]:
    """Run each callable in `work` over `clients` threads; latencies (s), wall, results."""

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(timed, work))
    wall = time.perf_counter() - start
    return [o[0] for o in outcomes], wall, [o[1] for o in outcomes]


def submit_call(client: httpx.Client, url: str, key: str):
    return lambda: (
        client.post(url, json=BODY, headers={"Authorization": f"Bearer {key}"}).status_code
    )


def floor_call(n: int):
    """One bare read-then-write transaction and one task create, like a submit's I/O."""
    from google.cloud import firestore

    from shared.engine.queue import Target, enqueue
    from shared.engine.store import db

    def call() -> int:
        ref = db().collection("bench_floor").document(str(uuid.uuid4()))

        @firestore.transactional
        def tx_body(tx):
            snap = ref.get(transaction=tx)
            tx.set(ref, {"n": (snap.get("n") if snap.exists else 0) + 1})

        tx_body(db().transaction())
        enqueue(Target.DISPATCH, {"job_id": str(uuid.uuid4())})
        return 201

    return call


def accounts(count: int, credits: int, keys_each: int = 1) -> list[list[str]]:
    from shared.engine import identity, ledger

    out = []
    for _ in range(count):
        account = identity.create_account(email=f"bench-{uuid.uuid4().hex[:12]}@example.com")
        ledger.credit(
            account_id=account.id,
            kind=ledger.EntryKind.GRANT,
            ref=str(uuid.uuid4()),
            micros=credits * 10_000,
        )
        out.append(
            [
                identity.create_api_key(account_id=account.id, site=identity.Site.PICS)
                for _ in range(keys_each)
            ]
        )
    return out


def report(label: str, latencies: list[float], wall: float, results: list[int]) -> dict:
    ok = results.count(201)
    figures = {
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "rate": ok / wall,
    }
    print(
        f"{label:34} n={len(results):4} ok={ok:4} p50={figures['p50']:7.1f} ms "
        f"p99={figures['p99']:7.1f} ms  {figures['rate']:6.1f} jobs/s"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--hot", type=int, default=100)
    args = parser.parse_args()

    from infra.local.stack import Stack

    stack = Stack.on_free_ports(workers=False)
    try:
        stack.start()
        url = f"http://127.0.0.1:{stack.ports['pics']}/api/v1/jobs"
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        with httpx.Client(timeout=120, limits=limits) as client:
            # Warm up every path once (imports, connections, emulator JIT).
            warm = accounts(1, 10)[0][0]
            for _ in range(3):
                submit_call(client, url, warm)()
                floor_call(0)()
            total = args.clients * args.per_client
            print(f"latency: {args.clients} concurrent clients, {total} requests each side")
            keys = [k[0] for k in accounts(args.clients, args.per_client + 1)]
            submit = report(
                "submit POST /api/v1/jobs",
                *run_clients(
                    [submit_call(client, url, keys[i % args.clients]) for i in range(total)],
                    args.clients,
                ),
            )
            floor = report(
                "floor (transaction + task create)",
                *run_clients([floor_call(i) for i in range(total)], args.clients),
            )
            print(f"throughput ratio (submit/floor jobs/s): {submit['rate'] / floor['rate']:.2f}")
            # The HTTP hop alone (gateway + functions-framework + the doorway, no I/O): a job
            # id that is not a UUID is answered 404 before any store call.
            hop_url = f"http://127.0.0.1:{stack.ports['pics']}/api/v1/jobs/not-a-job"
            report(
                "http hop alone (GET 404, no I/O)",
                *run_clients(
                    [lambda: 201 if client.get(hop_url).status_code == 404 else 0] * total,
                    args.clients,
                ),
            )

            print(f"hot account: {args.hot} concurrent submits")
            hot_keys = accounts(1, args.hot, keys_each=args.hot)[0]
            hot = report(
                "one account",
                *run_clients([submit_call(client, url, k) for k in hot_keys], args.hot),
            )
            many_keys = [k[0] for k in accounts(args.hot, 1)]
            many = report(
                f"{args.hot} accounts",
                *run_clients([submit_call(client, url, k) for k in many_keys], args.hot),
            )
        print(f"hot_ratio={hot['rate'] / many['rate']:.2f}")
        print(
            f"ratio p50={submit['p50'] / floor['p50']:.2f} p99={submit['p99'] / floor['p99']:.2f}"
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

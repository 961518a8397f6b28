"""Grid claim throughput: claims/s with 1, 8 and 32 concurrent workers, next to a bare
transaction floor on the same emulator, with double claims counted.

Starts its own stack on free ports (no GPU workers). Each round queues fresh jobs, then N
threads claim through `shared.grid.claims.claim_queued` (the code behind
`GET /worker/jobs/next`: the claimable queue `grid_queue`, read from each worker's own
slice first) until the queue is empty. The floor is N threads running a bare
read-then-write Firestore transaction on distinct documents, the cheapest atomic claim a
naive design would use. Ends with `ratio32=<claims/s over floor at 32> double_claims=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def queue_jobs(count: int, model: str) -> str:
    from shared.engine import identity, ledger
    from shared.grid import jobs as grid_jobs
    from shared.grid import usage

    account = identity.create_account(email=f"bench-{uuid.uuid4().hex[:10]}@example.com")
    ledger.credit(
        account_id=account.id,
        kind=ledger.EntryKind.GRANT,
        ref=str(uuid.uuid4()),
        micros=count * 50_000,
    )
    usage.REQUESTS_PER_DAY = 10**9  # measure claiming, not the free quota
    request = grid_jobs.JobCreateRequest(model=model, model_match="exact", prompt="bench")
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda _: grid_jobs.submit(account_id=account.id, api_key="k", request=request),
                range(count),
            )
        )
    return account.id


def claim_round(workers: int, jobs: int) -> tuple[float, int, int]:
    from shared.engine import clock
    from shared.grid import claims
    from shared.grid.workers import Worker

    model = f"bench{uuid.uuid4().hex[:6]}:1b"
    queue_jobs(jobs, model)
    claimed: dict[str, int] = {}
    lock = threading.Lock()

    def worker_loop(index: int) -> None:
        me = Worker(
            id=index + 1,
            account_id="bench",
            max_concurrent_jobs=jobs,  # no cap: the race between workers is what is measured
            last_seen=clock.now(),
            created_at=clock.now(),
        )
        while True:
            job = claims.claim_queued(
                worker=me, models={model}, families=set(), catch_all=False, wait_s=0
            )
            if job is None:
                return
            with lock:
                claimed[job.id] = claimed.get(job.id, 0) + 1

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker_loop, range(workers)))
    elapsed = time.perf_counter() - start
    doubles = sum(n - 1 for n in claimed.values() if n > 1)
    return len(claimed) / elapsed, doubles, len(claimed)


def floor_round(workers: int, ops: int) -> float:
    from google.cloud import firestore

    from shared.engine.store import db

    refs = [db().collection("bench_claim_floor").document(str(uuid.uuid4())) for _ in range(ops)]
    for ref in refs:
        ref.set({"state": "QUEUED"})

    def claim(ref) -> None:
        @firestore.transactional
        def body(tx):
            if ref.get(transaction=tx).get("state") == "QUEUED":
                tx.update(ref, {"state": "CLAIMED"})

        body(db().transaction())

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(claim, refs))
    return ops / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    from infra.local.stack import Stack

    stack = Stack.on_free_ports(workers=False)
    try:
        stack.start()
        results = {}
        for n in (1, 8, 32):
            jobs = args.jobs if n > 1 else max(50, args.jobs // 6)
            rate, doubles, count = claim_round(n, jobs)
            floor = floor_round(n, jobs)
            results[n] = (rate, floor, doubles)
            print(
                f"workers={n:2} claimed={count:4} claims/s={rate:7.1f} "
                f"floor tx/s={floor:7.1f} ratio={rate / floor:5.2f} double_claims={doubles}"
            )
        rate, floor, _ = results[32]
        print(f"ratio32={rate / floor:.2f} double_claims={sum(r[2] for r in results.values())}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

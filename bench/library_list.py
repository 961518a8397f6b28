"""Model list latency at scale: GET /api/v1/models over N indexed models, next to a bare
Firestore query of the same shape.

Starts its own stack on free ports, writes N model documents (the shape put_scanned writes,
in batches of 500: the scan's per-file transaction would only slow the setup), then for each
filter/sort combination measures R sequential requests through the gateway and R bare runs
of the same Firestore query (page + count, as catalog.list_models makes them). Prints p50 /
p99 per combination, then one line: `ratio p50=<API p50 over bare query p50>` (summed over
the combinations without residual filters; the search / several-tags line shows the cost of
the in-memory stream, which the bare query does not make).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

COMBOS = [
    {},
    {"sort": "name"},
    {"category": "LoRA", "sort": "downloads"},
    {"baseModel": "SDXL 1.0", "type": "LORA", "maxNsfwLevel": "3", "sort": "likes"},
    {"category": "Checkpoint", "tags": "anime", "hasMetadata": "true", "sort": "oldest"},
    {"category": "LoRA", "page": "5", "limit": "100"},
    {"category": "LoRA", "tags": "anime,style", "search": "7"},
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def index_models(count: int) -> None:
    from shared.engine.store import db
    from shared.library import records

    rng = random.Random(7)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    batch = db().batch()
    for n in range(count):
        path = f"bench/{n}.safetensors"
        scan = {
            "name": f"Model {n}",
            "type": rng.choice(["LORA", "Checkpoint", "VAE"]),
            "category": rng.choice(["LoRA", "Checkpoint", "VAE"]),
            "subcategory": rng.choice([None, "qwen", "anime"]),
            "baseModel": rng.choice(["SDXL 1.0", "Flux.1 D", "Pony", "SD 1.5"]),
            "nsfwLevel": rng.choice([0, 1, 2, 4, 8, 16]),
            "tags": rng.sample(["anime", "style", "photo", "portrait", "landscape"], 2),
            "stats": {"downloadCount": rng.randint(0, 10**5), "thumbsUpCount": rng.randint(0, 999)},
            "hasMetadata": rng.random() < 0.7,
            "versions": [],
        }
        model_id = records.model_id(path)
        doc = {
            "id": model_id,
            "path": path,
            "added_at": start + dt.timedelta(seconds=n),
            **records.document(scan, None),
        }
        batch.set(db().collection(records.MODELS).document(str(model_id)), doc)
        if n % 500 == 499:
            batch.commit()
            batch = db().batch()
    batch.commit()


def bare_call(params: dict[str, str]):
    from shared.library import catalog

    q = catalog.ListQuery.from_args(params.items())

    def call() -> None:
        query = catalog._query(q)
        start = (q.page - 1) * q.limit
        list(query.select(catalog.ITEM_FIELDS).offset(start).limit(q.limit + 1).stream())
        query.count().get()

    return call


def measure(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    from infra.local.stack import Stack

    stack = Stack.on_free_ports(workers=False)
    try:
        stack.start()
        from shared.library import keys

        started = time.perf_counter()
        index_models(args.models)
        print(f"indexed {args.models} models in {time.perf_counter() - started:.1f}s")
        url = f"http://127.0.0.1:{stack.ports['library']}/api/v1/models"
        headers = {"Authorization": f"Bearer {keys.show()}"}
        api_p50s, bare_p50s = [], []
        with httpx.Client(timeout=120) as client:
            for params in COMBOS:

                def api_call(params=params) -> None:
                    response = client.get(url, params=params, headers=headers)
                    assert response.status_code == 200, response.text

                api_call()  # warm up
                bare = bare_call(params)
                bare()
                api = measure(api_call, args.rounds)
                floor = measure(bare, args.rounds)
                if "search" not in params and "," not in params.get("tags", ""):
                    api_p50s.append(percentile(api, 0.5))  # residual lists stream: apart
                    bare_p50s.append(percentile(floor, 0.5))
                label = "&".join(f"{k}={v}" for k, v in params.items()) or "(no filter)"
                print(
                    f"{label:70} api p50={percentile(api, 0.5):7.1f} ms "
                    f"p99={percentile(api, 0.99):7.1f} ms | bare p50={percentile(floor, 0.5):7.1f}"
                    f" ms p99={percentile(floor, 0.99):7.1f} ms"
                )
        print(f"ratio p50={sum(api_p50s) / sum(bare_p50s):.2f}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

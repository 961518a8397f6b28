"""Fetch a model's production weights into `<out>/<model id>/` (image build time only).

The handlers load from `RELAY_MODEL_DIR/<model id>` with `local_files_only=True`, so a
worker never downloads at start; this is the one place that talks to the hub.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gpu_handlers.registry import get_handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    from huggingface_hub import snapshot_download

    spec = get_handler(args.model).SPEC
    snapshot_download(repo_id=spec.repo_id, local_dir=args.out / args.model)
    print(f"{spec.repo_id} -> {args.out / args.model}")


if __name__ == "__main__":
    main()

"""`grid-worker`: command line and environment for the grid agent.

    grid-worker --api-url http://127.0.0.1:3000/api/v1 --backend ollama
    python -m gpu_handlers.runtimes.grid --backend transformers --model-dir .local/models

Every option also reads an environment variable (`GRID_API_URL`, `GRID_API_KEY`, ...; see
`--help`); a flag wins over its variable. Prefer `GRID_API_KEY` to `--api-key`: arguments
are visible to every user of the machine in the process list.

Invariants:
- SIGTERM and SIGINT start the agent's graceful shutdown (a second one ends the grace); the
  process then exits 0 once the current job is reported.
- The transformers backend (torch) is imported only when chosen, so an Ollama worker starts
  in a fraction of a second and needs no torch.
- If a generation that cannot be interrupted is still running at exit, the process leaves
  with `os._exit`, after flushing its output: waiting for it is what the grace period was
  for, and interpreter teardown under a running native thread is not worth the risk.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from gpu_handlers.runtimes.grid.agent import AgentConfig, GridAgent
from gpu_handlers.runtimes.grid.backend import TextBackend
from gpu_handlers.runtimes.grid.client import GridClient
from gpu_handlers.runtimes.grid.ollama_backend import DEFAULT_OLLAMA_URL, OllamaBackend

BACKENDS = ("ollama", "transformers")
TRUE_WORDS = {"1", "true", "yes", "on"}


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="grid-worker",
        description="Serve grid LLM jobs from a local model (Ollama or transformers).",
    )

    def option(flag: str, var: str, what: str, *, default: object = None, **kw: Any) -> None:
        """`flag`, defaulting to `$var` (converted like the flag) and then to `default`."""
        convert = kw.get("type", str)
        value = convert(env[var]) if env.get(var) else default
        suffix = f" [{var}" + (f", default {default}]" if default is not None else "]")
        parser.add_argument(flag, default=value, help=what + suffix, **kw)

    def switch(flag: str, var: str, what: str) -> None:
        on = env.get(var, "").strip().lower() in TRUE_WORDS
        parser.add_argument(flag, action="store_true", default=on, help=f"{what} [{var}=1]")

    option("--api-url", "GRID_API_URL", "grid API base, e.g. http://127.0.0.1:3000/api/v1")
    option("--api-key", "GRID_API_KEY", "API key (vk_live_...); prefer the variable")
    option("--backend", "GRID_BACKEND", "what runs the model", default="ollama", choices=BACKENDS)
    option("--ollama-url", "GRID_OLLAMA_URL", "Ollama server", default=DEFAULT_OLLAMA_URL)
    option("--model-dir", "GRID_MODEL_DIR", "transformers backend: local model directory")
    option("--model-name", "GRID_MODEL_NAME", "transformers backend: tag to serve it as")
    option("--name", "GRID_WORKER_NAME", "worker name on the grid", default=socket.gethostname())
    option("--models", "GRID_MODELS", "comma-separated tags to serve (default: all)")
    switch("--serves-family", "GRID_SERVES_FAMILY", "also take jobs for the models' families")
    switch("--catch-all", "GRID_CATCH_ALL", "also take jobs that accept any model")
    option(
        "--max-new-tokens", "GRID_MAX_NEW_TOKENS", "cap on tokens per job", default=1024, type=int
    )
    option(
        "--shutdown-grace",
        "GRID_SHUTDOWN_GRACE_S",
        "seconds a running job may take to finish after SIGTERM",
        default=30.0,
        type=float,
    )
    option(
        "--heartbeat-interval",
        "GRID_HEARTBEAT_S",
        "seconds between heartbeats during a job",
        default=30.0,
        type=float,
    )
    option("--threads", "GRID_THREADS", "transformers backend: torch CPU threads", type=int)
    option("--log-level", "GRID_LOG_LEVEL", "DEBUG, INFO, WARNING, ...", default="INFO")
    return parser


def make_backend(args: argparse.Namespace) -> TextBackend:
    if args.backend == "ollama":
        return OllamaBackend(args.ollama_url)
    if not args.model_dir:
        raise SystemExit("grid-worker: the transformers backend needs --model-dir")
    from transformers.utils import logging as transformers_logging

    from gpu_handlers.runtimes.grid.transformers_backend import TransformersBackend

    transformers_logging.disable_progress_bar()  # a bar per load is noise in a worker log
    return TransformersBackend(args.model_dir, model_name=args.model_name, num_threads=args.threads)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.api_url or not args.api_key:
        raise SystemExit("grid-worker: set --api-url and --api-key (or GRID_API_URL, GRID_API_KEY)")
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # A line per poll request would drown the job log.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    config = AgentConfig(
        name=args.name,
        models=tuple(m.strip() for m in (args.models or "").split(",") if m.strip()),
        serves_family=args.serves_family,
        catch_all=args.catch_all,
        max_new_tokens=args.max_new_tokens,
        shutdown_grace_s=args.shutdown_grace,
        heartbeat_interval_s=args.heartbeat_interval,
    )
    client = GridClient(args.api_url, args.api_key)
    agent = GridAgent(config, backend=make_backend(args), client=client)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        agent.request_shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = agent.run()
    client.close()
    if agent.abandoned_generation:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code

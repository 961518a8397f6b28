"""The local stack: real emulators, our local stand-ins for third parties, the gateway and
one real RunPod worker per GPU handler, started together and stopped together.

`python -m infra.local.stack dev` is what `make dev` runs (fixed ports, writes
.local/dev.env for the `relay` CLI, Ctrl-C stops everything). Tests and benchmarks use
`Stack(...)` with free ports so they run beside a `make dev`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gpu_handlers import registry as handler_registry

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / ".local"
VENV_BIN = Path(sys.executable).parent
# The Cloud Tasks emulator, run by its own venv's Python through our launcher (a 10 ms poll).
TASKS_EMULATOR = (REPO / ".tasks-venv" / "bin" / "python", REPO / "infra/local/tasks_emulator.py")
FIREBASE = REPO / "node_modules" / ".bin" / "firebase"
PROJECT = "demo-relay"
REGION = "us-central1"
QUEUE = "jobs"
RUNPOD_API_KEY = "local-runpod-key"
STRIPE_KEY = "sk_test_local"
STRIPE_WEBHOOK_SECRET = "whsec_local"
COINBASE_KEY = "coinbase_key_local"
COINBASE_WEBHOOK_SECRET = "coinbase_whsec_local"
GEMINI_KEY = "local-gemini-key"
OPENAI_KEY = "local-openai-key"
# Where x402 purchases are paid to on the local chain (a fixed, local-only address).
X402_PAY_TO = "0x5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E5A1E"
# One RunPod endpoint, and one real worker, per handler: the image models and every media
# handler (gpu_handlers/registry.py).
HANDLERS: tuple[str, ...] = handler_registry.HANDLER_IDS
DEV_PORTS = {
    "market": 8080,
    "pics": 8081,
    "grid": 3000,
    "media": 8082,
    "library": 3001,
    "functions": 8090,
    "firestore": 8085,
    "auth": 9099,
    "storage": 9023,
    "tasks": 8123,
    "runpod": 8300,
    "auth_hub": 4400,
    "auth_logging": 4500,
    "s3": 9324,
    "stripe": 12111,
    "coinbase": 12112,
    "x402": 12113,
    "gemini": 12114,
    "openai": 12115,
    "smtp": 1025,
    "mail": 8025,
}
SWEEP_EVERY_S = 15.0


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports. Every socket stays bound until all are chosen,
    so the OS cannot hand the same port out twice (two services on one port)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see its log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not open port {port} within {timeout:.0f}s")


@dataclass
class Stack:
    ports: dict[str, int]
    logs: Path
    workers: bool = True
    sweep: bool = False
    # RunPod endpoints served with no worker behind them (jobs there wait, as on RunPod).
    idle_endpoints: tuple[str, ...] = ()
    # One grid-worker agent (tiny local LLM) pulling from the grid site, as in `make dev`.
    grid_agent: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def on_free_ports(cls, **kwargs: object) -> Stack:
        logs = Path(tempfile.mkdtemp(prefix="relay-stack-"))
        ports = dict(zip(DEV_PORTS, free_ports(len(DEV_PORTS)), strict=True))
        return cls(ports=ports, logs=logs, **kwargs)

    @property
    def env(self) -> dict[str, str]:
        p = self.ports
        endpoints = ",".join(f"{m}={m}" for m in HANDLERS + self.idle_endpoints)
        return {
            "RELAY_ENV": "local",
            "RELAY_PROJECT_ID": PROJECT,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{p['firestore']}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{p['storage']}",
            "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{p['auth']}",
            "RELAY_TASKS_EMULATOR_HOST": f"127.0.0.1:{p['tasks']}",
            "RELAY_TASKS_QUEUE": QUEUE,
            "RELAY_FUNCTIONS_URL": f"http://127.0.0.1:{p['functions']}",
            "RELAY_TASKS_SERVICE_ACCOUNT": f"relay-tasks@{PROJECT}.iam.gserviceaccount.com",
            "RELAY_RUNPOD_API_BASE": f"http://127.0.0.1:{p['runpod']}",
            "RUNPOD_API_KEY": RUNPOD_API_KEY,
            "RELAY_RUNPOD_ENDPOINTS": endpoints,
            "RELAY_SIGNING_KEY_FILE": str(LOCAL / "signing-sa.json"),
            "RELAY_MODEL_DIR": str(LOCAL / "models"),
            "RELAY_S3_ENDPOINT_URL": f"http://127.0.0.1:{p['s3']}",
            "RELAY_STRIPE_API_BASE": f"http://127.0.0.1:{p['stripe']}",
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "RELAY_PUBLIC_URL": f"http://127.0.0.1:{p['grid']}",
            "RELAY_MEDIA_PUBLIC_URL": f"http://127.0.0.1:{p['media']}",
            "RELAY_COINBASE_API_BASE": f"http://127.0.0.1:{p['coinbase']}",
            "COINBASE_COMMERCE_API_KEY": COINBASE_KEY,
            "COINBASE_COMMERCE_WEBHOOK_SECRET": COINBASE_WEBHOOK_SECRET,
            "RELAY_X402_FACILITATOR_URL": f"http://127.0.0.1:{p['x402']}",
            "RELAY_X402_PAY_TO": X402_PAY_TO,
            "RELAY_GEMINI_API_BASE": f"http://127.0.0.1:{p['gemini']}",
            "GEMINI_API_KEY": GEMINI_KEY,
            "RELAY_OPENAI_API_BASE": f"http://127.0.0.1:{p['openai']}/v1",
            "OPENAI_API_KEY": OPENAI_KEY,
            "RELAY_SMTP_HOST": "127.0.0.1",
            "RELAY_SMTP_PORT": str(p["smtp"]),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            # The local-development allowance: webhooks may target loopback receivers.
            "RELAY_ALLOW_PRIVATE_WEBHOOKS": "1",
            # Nothing may download at run time: the hub libraries stay offline.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "RELAY_SITE_URLS": ",".join(
                f"{s}=http://127.0.0.1:{p[s]}"
                for s in ("market", "pics", "grid", "media", "library")
            ),
            **self.extra_env,
        }

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
    ) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env, **(env or {})},
            start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def start(self) -> Stack:
        self.logs.mkdir(parents=True, exist_ok=True)
        p = self.ports
        bin_ = VENV_BIN
        commands = {
            "firestore": [
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port=127.0.0.1:{p['firestore']}",
                "--quiet",
            ],
            "storage": [
                sys.executable,
                "-m",
                "infra.local.storage_emulator",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["storage"]),
                "--in-memory",
                "--default-bucket",
                "relay-outputs",
            ],
            "tasks": [
                *map(str, TASKS_EMULATOR),
                "start",
                "-p",
                str(p["tasks"]),
                "-q",
                "-r",
                "25",
                "-d",
                f"projects/{PROJECT}/locations/{REGION}/queues/{QUEUE}",
            ],
            "runpod": [
                sys.executable,
                "-m",
                "infra.local.runpod_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["runpod"]),
                "--api-key",
                RUNPOD_API_KEY,
                "--endpoints",
                ",".join(HANDLERS + self.idle_endpoints),
            ],
            "s3": [str(bin_ / "moto_server"), "-H", "127.0.0.1", "-p", str(p["s3"])],
            "stripe": [
                sys.executable,
                "-m",
                "infra.local.stripe_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["stripe"]),
                "--api-key",
                STRIPE_KEY,
                "--webhook-secret",
                STRIPE_WEBHOOK_SECRET,
                "--webhook",
                f"http://127.0.0.1:{p['functions']}/stripe_webhook",
            ],
            "coinbase": [
                sys.executable,
                "-m",
                "infra.local.coinbase_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["coinbase"]),
                "--api-key",
                COINBASE_KEY,
                "--webhook-secret",
                COINBASE_WEBHOOK_SECRET,
                "--webhook",
                f"http://127.0.0.1:{p['functions']}/coinbase_webhook",
            ],
            "x402": [
                sys.executable,
                "-m",
                "infra.local.x402_facilitator",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["x402"]),
            ],
            "gemini": [
                sys.executable,
                "-m",
                "infra.local.gemini_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["gemini"]),
                "--api-key",
                GEMINI_KEY,
            ],
            "openai": [
                sys.executable,
                "-m",
                "infra.local.openai_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["openai"]),
                "--api-key",
                OPENAI_KEY,
            ],
            "mail": [
                sys.executable,
                "-m",
                "infra.local.mail_sink",
                "--host",
                "127.0.0.1",
                "--smtp-port",
                str(p["smtp"]),
                "--http-port",
                str(p["mail"]),
            ],
        }
        started = [(name, self._spawn(name, args)) for name, args in commands.items()]
        started.append(("auth", self._start_auth()))
        sites = ",".join(f"{s}={p[s]}" for s in ("market", "pics", "grid", "media", "library"))
        started.append(
            (
                "functions",
                self._spawn(
                    "gateway",
                    [
                        sys.executable,
                        "-m",
                        "infra.local.gateway",
                        "--ports",
                        sites,
                        "--functions-port",
                        str(p["functions"]),
                    ],
                ),
            )
        )
        for name, proc in started:
            wait_for_port(p[name], proc, name, timeout=90)
        self.prepare()
        if self.workers:
            self.start_workers()
        if self.grid_agent:
            self.start_grid_agent()
        if self.sweep:
            threading.Thread(target=self._sweep_loop, daemon=True).start()
        return self

    def prepare(self) -> None:
        """Create what production declares in infra/: the queue and the buckets."""
        os.environ.update(self.env)
        from shared.engine import clients, settings

        settings.get_settings.cache_clear()
        for accessor in (
            clients.firestore_client,
            clients.storage_client,
            clients.tasks_client,
            clients.http_client,
        ):
            accessor.cache_clear()
        from shared.engine.outputs import ensure_bucket
        from shared.engine.queue import ensure_queue
        from shared.grid import blobs
        from shared.library import storage as library_storage

        blobs.s3.cache_clear()
        ensure_queue()
        ensure_bucket()
        blobs.ensure_bucket()
        library_storage.ensure_bucket()

    def _start_auth(self) -> subprocess.Popen:
        config = self.logs / "firebase.json"
        p = self.ports
        config.write_text(
            json.dumps(
                {
                    "emulators": {
                        "auth": {"host": "127.0.0.1", "port": p["auth"]},
                        "hub": {"host": "127.0.0.1", "port": p["auth_hub"]},
                        "logging": {"host": "127.0.0.1", "port": p["auth_logging"]},
                        "ui": {"enabled": False},
                    }
                }
            )
        )
        return self._spawn(
            "auth",
            [
                str(FIREBASE),
                "emulators:start",
                "--only",
                "auth",
                "--project",
                PROJECT,
                "--config",
                str(config),
            ],
            cwd=self.logs,
        )

    def start_workers(self, models: tuple[str, ...] = HANDLERS) -> None:
        from infra.local.runpod_server import worker_env

        for model in models:
            if not handler_registry.is_present(model):
                continue
            env = worker_env(
                f"http://127.0.0.1:{self.ports['runpod']}", model, RUNPOD_API_KEY, f"local-{model}"
            )
            self._spawn(
                f"worker-{model}",
                [
                    sys.executable,
                    "-m",
                    "gpu_handlers.runtimes.runpod_worker",
                    "--model",
                    model,
                ],
                env=env,
            )

    def start_grid_agent(self, email: str = "grid-agent@relay.local") -> str:
        """A volunteer's agent: its own worker account and key; returns the key."""
        from shared.engine import identity

        account = identity.create_account(email=email, roles=[identity.Role.WORKER])
        key = identity.create_api_key(
            account_id=account.id, site=identity.Site.GRID, label="local grid agent"
        )
        self._spawn(
            "grid-agent",
            [
                sys.executable,
                "-m",
                "gpu_handlers.runtimes.grid",
                "--backend",
                "transformers",
                "--model-dir",
                str(LOCAL / "models" / "tiny-llm"),
                "--threads",
                "1",
                "--catch-all",
                "--serves-family",
                "--name",
                "local-agent",
                "--api-url",
                f"http://127.0.0.1:{self.ports['grid']}/api/v1",
            ],
            env={"GRID_API_KEY": key},
        )
        return key

    def wait_for_workers(self, timeout: float = 120.0, models: tuple[str, ...] = HANDLERS) -> None:
        """Until the worker of every handler in `models` has polled the control plane."""
        deadline = time.monotonic() + timeout
        base = f"http://127.0.0.1:{self.ports['runpod']}"
        headers = {"Authorization": f"Bearer {RUNPOD_API_KEY}"}
        pending = {m for m in models if handler_registry.is_present(m)}
        while pending and time.monotonic() < deadline:
            for model in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    workers = httpx.get(
                        f"{base}/v2/{model}/health", headers=headers, timeout=2
                    ).json()["workers"]
                    if workers.get("idle", 0) + workers.get("running", 0) > 0:
                        pending.discard(model)
            for name, proc in self.procs:
                if name.startswith("worker-") and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.logs / (name + '.log')}")
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"workers not ready: {sorted(pending)}")

    def _sweep_loop(self) -> None:
        """Cloud Scheduler's job in production: call the sweep function periodically."""
        from shared.engine.task_auth import sign_token

        url = f"{self.env['RELAY_FUNCTIONS_URL']}/task_sweep"
        key = json.loads(Path(self.env["RELAY_SIGNING_KEY_FILE"]).read_text())
        email = self.env["RELAY_TASKS_SERVICE_ACCOUNT"]
        while not self._stop.wait(SWEEP_EVERY_S):
            # Cloud Scheduler's OIDC token for the sweep URL, signed by the local key.
            token = sign_token(audience=url, email=email, key_info=key)
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(url, json={}, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def stop(self) -> None:
        self._stop.set()
        for _, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def write_env_file(env: dict[str, str], path: Path = LOCAL / "dev.env") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))


def dev() -> None:
    stack = Stack(ports=dict(DEV_PORTS), logs=LOCAL / "logs", sweep=True, grid_agent=True)
    for name, port in stack.ports.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                sys.exit(f"port {port} ({name}) is in use: is another `make dev` running?")
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop cleanly, even where SIGINT was inherited as ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stack.start()
        write_env_file(stack.env)
        from shared.market.seed import seed as seed_market

        seed_market()  # Tarsify's shipped base models and endpoints, so a tars model can run
        from shared.library.fixtures import seed_library

        seed_library()  # fixture models, sidecars and previews in the library bucket, scanned
        print("\nRelay local stack is up (logs in .local/logs/). Sites:")
        for site in ("market", "pics", "grid", "media", "library"):
            print(f"  {site:8} http://127.0.0.1:{stack.ports[site]}")
        print(f"  functions http://127.0.0.1:{stack.ports['functions']}/<name>")
        print(
            "Emulators: "
            + ", ".join(
                f"{k} :{stack.ports[k]}"
                for k in ("firestore", "auth", "storage", "tasks", "runpod")
            )
        )
        print(
            f"Payments: Stripe http://127.0.0.1:{stack.ports['stripe']}, "
            f"Coinbase http://127.0.0.1:{stack.ports['coinbase']}, "
            f"x402 facilitator http://127.0.0.1:{stack.ports['x402']}\n"
            f"Mail sink: http://127.0.0.1:{stack.ports['mail']}/messages "
            f"(SMTP :{stack.ports['smtp']})\n"
            f"OpenAI stand-in (Studio agent): http://127.0.0.1:{stack.ports['openai']}/v1"
        )
        print("Waiting for GPU workers (tiny local models)...", flush=True)
        stack.wait_for_workers()
        print(
            "Workers ready. `.venv/bin/relay --help` for accounts, keys and credits. "
            "Ctrl-C stops everything.",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["dev"])
    parser.parse_args()
    dev()


if __name__ == "__main__":
    main()

"""Settings: one typed object read from the environment, once per process.

Production and local runs differ only here (emulator hosts, base URLs, keys), never in
code paths. Outside the emulators it refuses to start with a placeholder secret.
Locally, `make dev` writes `.local/dev.env`; processes that were not given the stack's
environment (the `relay` CLI run from a shell) read it as defaults.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from pydantic import BaseModel, Field

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_ENV_FILE = REPO_ROOT / ".local" / "dev.env"
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "local-dev-secret"})


class SettingsError(RuntimeError):
    pass


class Settings(BaseModel):
    environment: str = "local"  # "local" or "production"
    project_id: str = "demo-relay"
    region: str = "us-central1"

    firestore_emulator_host: str | None = None
    storage_emulator_host: str | None = None
    auth_emulator_host: str | None = None
    tasks_emulator_host: str | None = None

    tasks_queue: str = "jobs"
    # Base URL where every function is reachable as <base>/<function_name>.
    functions_base_url: str = "http://127.0.0.1:8090"
    # Shared secret Cloud Tasks sends to task targets (production adds IAM/OIDC on top).
    task_secret: str = "local-dev-secret"
    # Key for per-job callback tokens (HMAC over the job id).
    callback_secret: str = "local-dev-secret"
    # Key that seals clients' webhook signing secrets (AES-GCM) while their jobs run.
    webhook_secret_key: str = "local-dev-secret"

    bucket: str = "relay-outputs"
    signing_key_file: str | None = None
    output_url_ttl_s: int = 48 * 3600

    runpod_api_base: str = "https://api.runpod.ai"
    runpod_api_key: str = "local-dev-secret"
    # model id -> RunPod endpoint id
    runpod_endpoints: dict[str, str] = Field(default_factory=dict)
    # model id -> "runpod" | "modal"
    image_backends: dict[str, str] = Field(default_factory=dict)

    # Stripe (the local Stripe server in `make dev`).
    stripe_api_key: str = "sk_test_local"
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: str = "whsec_local"
    # Where browsers land after a Stripe Checkout (a page of the client's site).
    public_url: str = "http://127.0.0.1:3000"

    # S3 for grid blobs (moto server locally).
    s3_endpoint_url: str | None = None
    s3_bucket: str = "relay-grid-blobs"
    s3_region: str = "us-east-1"

    grid_poll_wait_s: float = 30.0

    # Killa Tamata (media): Coinbase Commerce, x402, mail and sign-in.
    coinbase_api_base: str = "https://api.commerce.coinbase.com"
    coinbase_api_key: str = "local-dev-secret"
    coinbase_webhook_secret: str = "local-dev-secret"
    x402_facilitator_url: str = "https://x402.org/facilitator"
    x402_network: str = "eip155:84532"  # CAIP-2; Base Sepolia until production sets Base
    x402_asset: str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"  # USDC on Base Sepolia
    x402_pay_to: str = "0x0000000000000000000000000000000000000000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Killa Tamata <no-reply@killatamata.local>"
    google_client_ids: list[str] = Field(default_factory=list)
    # Key for signed tokens the media site hands out (affiliate attribution).
    media_token_key: str = "local-dev-secret"
    media_public_url: str = "http://127.0.0.1:8082"
    # Sign-in codes started per client IP per hour (per email: 1 a minute, 5 an hour).
    media_email_ip_per_hour: int = 30
    # Code guesses per client IP per minute (each code also allows only 5 wrong guesses).
    media_verify_ip_per_minute: int = 30

    ledger_shards: int = Field(default=4, ge=1, le=64)
    job_timeout_s: int = 600
    dispatch_max_attempts: int = 5
    allow_private_webhooks: bool = False

    pics_rate_per_minute: int = 60
    pics_rate_per_day: int = 1000

    @property
    def on_emulators(self) -> bool:
        return bool(self.firestore_emulator_host)

    def check_secrets(self) -> None:
        if self.on_emulators and self.environment != "production":
            return
        weak = [
            name
            for name in (
                "task_secret",
                "callback_secret",
                "runpod_api_key",
                "webhook_secret_key",
                "stripe_api_key",
                "stripe_webhook_secret",
                "coinbase_api_key",
                "coinbase_webhook_secret",
                "media_token_key",
            )
            if getattr(self, name) in PLACEHOLDER_SECRETS or getattr(self, name).endswith("_local")
        ]
        if weak:
            raise SettingsError(f"placeholder secrets outside the emulators: {', '.join(weak)}")
        if self.allow_private_webhooks:
            raise SettingsError("private webhook targets are a local-development allowance")


def _parse_map(raw: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


_ENV = {
    "environment": "RELAY_ENV",
    "project_id": "RELAY_PROJECT_ID",
    "region": "RELAY_REGION",
    "firestore_emulator_host": "FIRESTORE_EMULATOR_HOST",
    "storage_emulator_host": "STORAGE_EMULATOR_HOST",
    "auth_emulator_host": "FIREBASE_AUTH_EMULATOR_HOST",
    "tasks_emulator_host": "RELAY_TASKS_EMULATOR_HOST",
    "tasks_queue": "RELAY_TASKS_QUEUE",
    "functions_base_url": "RELAY_FUNCTIONS_URL",
    "task_secret": "RELAY_TASK_SECRET",
    "callback_secret": "RELAY_CALLBACK_SECRET",
    "webhook_secret_key": "RELAY_WEBHOOK_KEY",
    "bucket": "RELAY_BUCKET",
    "signing_key_file": "RELAY_SIGNING_KEY_FILE",
    "runpod_api_base": "RELAY_RUNPOD_API_BASE",
    "runpod_api_key": "RUNPOD_API_KEY",
    "runpod_endpoints": "RELAY_RUNPOD_ENDPOINTS",
    "image_backends": "RELAY_IMAGE_BACKENDS",
    "stripe_api_key": "STRIPE_SECRET_KEY",
    "stripe_api_base": "RELAY_STRIPE_API_BASE",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "public_url": "RELAY_PUBLIC_URL",
    "s3_endpoint_url": "RELAY_S3_ENDPOINT_URL",
    "s3_bucket": "RELAY_S3_BUCKET",
    "s3_region": "RELAY_S3_REGION",
    "grid_poll_wait_s": "RELAY_GRID_POLL_WAIT_S",
    "coinbase_api_base": "RELAY_COINBASE_API_BASE",
    "coinbase_api_key": "COINBASE_COMMERCE_API_KEY",
    "coinbase_webhook_secret": "COINBASE_COMMERCE_WEBHOOK_SECRET",
    "x402_facilitator_url": "RELAY_X402_FACILITATOR_URL",
    "x402_network": "RELAY_X402_NETWORK",
    "x402_asset": "RELAY_X402_ASSET",
    "x402_pay_to": "RELAY_X402_PAY_TO",
    "smtp_host": "RELAY_SMTP_HOST",
    "smtp_port": "RELAY_SMTP_PORT",
    "smtp_username": "RELAY_SMTP_USERNAME",
    "smtp_password": "RELAY_SMTP_PASSWORD",
    "smtp_starttls": "RELAY_SMTP_STARTTLS",
    "mail_from": "RELAY_MAIL_FROM",
    "google_client_ids": "RELAY_GOOGLE_CLIENT_IDS",
    "media_token_key": "RELAY_MEDIA_TOKEN_KEY",
    "media_public_url": "RELAY_MEDIA_PUBLIC_URL",
    "media_email_ip_per_hour": "RELAY_MEDIA_EMAIL_IP_PER_HOUR",
    "media_verify_ip_per_minute": "RELAY_MEDIA_VERIFY_IP_PER_MINUTE",
    "ledger_shards": "RELAY_LEDGER_SHARDS",
    "job_timeout_s": "RELAY_JOB_TIMEOUT_S",
    "allow_private_webhooks": "RELAY_ALLOW_PRIVATE_WEBHOOKS",
    "pics_rate_per_minute": "RELAY_PICS_RATE_PER_MINUTE",
    "pics_rate_per_day": "RELAY_PICS_RATE_PER_DAY",
}
_MAPS = {"runpod_endpoints", "image_backends"}
_LISTS = {"google_client_ids"}
# Variables the Google client libraries read themselves; exported when taken from the file.
_EXPORTED = ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")


def environ() -> dict[str, str]:
    """The process environment, over the dev stack's file when this process lacks one."""
    env = dict(os.environ)
    file = env.get("RELAY_ENV_FILE")
    path = Path(file) if file else DEV_ENV_FILE
    wanted = (file or "FIRESTORE_EMULATOR_HOST" not in env) and env.get("RELAY_ENV") != "production"
    if wanted and path.exists():
        env = {**_read_env_file(path), **env}
        for key in _EXPORTED:
            if key in env:
                os.environ.setdefault(key, env[key])
    return env


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = environ() if env is None else env
    values: dict[str, object] = {}
    for field, var in _ENV.items():
        if var in env:
            raw = env[var]
            if field in _MAPS:
                values[field] = _parse_map(raw)
            elif field in _LISTS:
                values[field] = [item for item in re.split(r"[,;\s]+", raw) if item]
            else:
                values[field] = raw
    settings = Settings.model_validate(values)
    settings.check_secrets()
    return settings


@functools.cache
def get_settings() -> Settings:
    return load_settings()

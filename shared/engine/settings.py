"""Settings: one typed object read from the environment, once per process.

Production and local runs differ only here (emulator hosts, base URLs, keys), never in
code paths. Every field is read from one environment variable (its `validation_alias`);
`load_settings` refuses placeholder secrets outside the emulators, and `get_settings` is
the one cached accessor. Locally, `make dev` writes `.local/dev.env`; a process that was
not given the stack's environment (the `relay` CLI run from a shell) reads it as defaults
(`RELAY_ENV_FILE` names another file), never in production. `Settings(...)` itself is
exactly what it is given: only `load_settings` looks at the environment.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import BeforeValidator, Field
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_ENV_FILE = REPO_ROOT / ".local" / "dev.env"
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "local-dev-secret"})
# Variables the Google client libraries read themselves; exported when taken from the file.
EXPORTED_FROM_FILE = (
    "FIRESTORE_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
)


class SettingsError(RuntimeError):
    pass


def _split_map(raw: Any) -> Any:
    """`a=b, c=d` -> {"a": "b", "c": "d"} (items without `=` are ignored)."""
    if not isinstance(raw, str):
        return raw
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def _split_list(raw: Any) -> Any:
    """`a, b;c d` -> ["a", "b", "c", "d"]."""
    if not isinstance(raw, str):
        return raw
    return [item for item in re.split(r"[,;\s]+", raw) if item]


# NoDecode: the environment gives these as plain text, not JSON.
StrMap = Annotated[dict[str, str], NoDecode, BeforeValidator(_split_map)]
StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values only: a test's Settings(...) never picks up a stack's environment.
        return (init_settings,)

    # "local" or "production"
    environment: str = Field("local", validation_alias="RELAY_ENV")
    project_id: str = Field("demo-relay", validation_alias="RELAY_PROJECT_ID")
    region: str = Field("us-central1", validation_alias="RELAY_REGION")

    firestore_emulator_host: str | None = Field(None, validation_alias="FIRESTORE_EMULATOR_HOST")
    storage_emulator_host: str | None = Field(None, validation_alias="STORAGE_EMULATOR_HOST")
    auth_emulator_host: str | None = Field(None, validation_alias="FIREBASE_AUTH_EMULATOR_HOST")
    tasks_emulator_host: str | None = Field(None, validation_alias="RELAY_TASKS_EMULATOR_HOST")

    tasks_queue: str = Field("jobs", validation_alias="RELAY_TASKS_QUEUE")
    # Base URL where every function is reachable as <base>/<function_name>.
    functions_base_url: str = Field("http://127.0.0.1:8090", validation_alias="RELAY_FUNCTIONS_URL")
    # The service account whose OIDC ID tokens Cloud Tasks and Cloud Scheduler present to the
    # task targets (shared/engine/task_auth.py); locally the enqueuer signs them itself with
    # `signing_key_file`'s key.
    tasks_service_account: str = Field(
        "relay-tasks@demo-relay.iam.gserviceaccount.com",
        validation_alias="RELAY_TASKS_SERVICE_ACCOUNT",
    )
    # Key for per-job callback tokens (HMAC over the job id).
    callback_secret: str = Field("local-dev-secret", validation_alias="RELAY_CALLBACK_SECRET")
    # Key that seals clients' webhook signing secrets (AES-GCM) while their jobs run.
    webhook_secret_key: str = Field("local-dev-secret", validation_alias="RELAY_WEBHOOK_KEY")

    bucket: str = Field("relay-outputs", validation_alias="RELAY_BUCKET")
    signing_key_file: str | None = Field(None, validation_alias="RELAY_SIGNING_KEY_FILE")
    output_url_ttl_s: int = Field(48 * 3600, validation_alias="RELAY_OUTPUT_URL_TTL_S")

    # Model Manager (library): the bucket and prefix the model files live under; the
    # handlers load from the same place.
    library_bucket: str = Field("relay-library", validation_alias="RELAY_LIBRARY_BUCKET")
    library_models_root: str = Field("models", validation_alias="RELAY_LIBRARY_MODELS_ROOT")
    library_session_ttl_s: int = Field(
        7 * 24 * 3600, validation_alias="RELAY_LIBRARY_SESSION_TTL_S"
    )
    # Origins whose pages may sign in / write with the library session cookie (empty: the
    # request's own host).
    library_allowed_origins: StrList = Field(
        default_factory=list, validation_alias="RELAY_LIBRARY_ALLOWED_ORIGINS"
    )

    runpod_api_base: str = Field("https://api.runpod.ai", validation_alias="RELAY_RUNPOD_API_BASE")
    runpod_api_key: str = Field("local-dev-secret", validation_alias="RUNPOD_API_KEY")
    # model id -> RunPod endpoint id
    runpod_endpoints: StrMap = Field(
        default_factory=dict, validation_alias="RELAY_RUNPOD_ENDPOINTS"
    )
    # model id -> "runpod" | "modal"
    image_backends: StrMap = Field(default_factory=dict, validation_alias="RELAY_IMAGE_BACKENDS")
    # media handler id -> "runpod" | "modal" (shared/media/jobs/routing.py)
    media_backends: StrMap = Field(default_factory=dict, validation_alias="RELAY_MEDIA_BACKENDS")

    # Stripe (the local Stripe server in `make dev`).
    stripe_api_key: str = Field("sk_test_local", validation_alias="STRIPE_SECRET_KEY")
    stripe_api_base: str = Field("https://api.stripe.com", validation_alias="RELAY_STRIPE_API_BASE")
    stripe_webhook_secret: str = Field("whsec_local", validation_alias="STRIPE_WEBHOOK_SECRET")
    # Where browsers land after a Stripe Checkout (a page of the client's site).
    public_url: str = Field("http://127.0.0.1:3000", validation_alias="RELAY_PUBLIC_URL")

    # S3 for grid blobs (moto server locally).
    s3_endpoint_url: str | None = Field(None, validation_alias="RELAY_S3_ENDPOINT_URL")
    s3_bucket: str = Field("relay-grid-blobs", validation_alias="RELAY_S3_BUCKET")
    s3_region: str = Field("us-east-1", validation_alias="RELAY_S3_REGION")

    grid_poll_wait_s: float = Field(30.0, validation_alias="RELAY_GRID_POLL_WAIT_S")
    # Grid abuse limits (docs/decisions.md, "Grid (Vibe Earning)").
    # The most concurrent claims a worker's registration may ask for (it defaults to 1).
    grid_max_concurrent_claims: int = Field(8, validation_alias="RELAY_GRID_MAX_CONCURRENT_CLAIMS")
    # Earnings younger than this cannot be paid out (fraud found later is reversed first).
    grid_settlement_window_s: int = Field(
        7 * 24 * 3600, validation_alias="RELAY_GRID_SETTLEMENT_WINDOW_S"
    )
    # A worker is offered no job once it has this many failed runs and more than this
    # percentage of its finished runs failed.
    grid_failure_min_runs: int = Field(3, validation_alias="RELAY_GRID_FAILURE_MIN_RUNS")
    grid_failure_rate_pct: int = Field(50, validation_alias="RELAY_GRID_FAILURE_RATE_PCT")
    # The most output tokens one job pays its worker for.
    grid_max_paid_output_tokens: int = Field(
        32_768, validation_alias="RELAY_GRID_MAX_PAID_OUTPUT_TOKENS"
    )
    # Job lists page by offset up to here; deeper pages are empty (narrow with from/to).
    grid_max_list_offset: int = Field(1_000, validation_alias="RELAY_GRID_MAX_LIST_OFFSET")

    # Killa Tamata (media): Coinbase Commerce, x402, mail and sign-in.
    coinbase_api_base: str = Field(
        "https://api.commerce.coinbase.com", validation_alias="RELAY_COINBASE_API_BASE"
    )
    coinbase_api_key: str = Field("local-dev-secret", validation_alias="COINBASE_COMMERCE_API_KEY")
    coinbase_webhook_secret: str = Field(
        "local-dev-secret", validation_alias="COINBASE_COMMERCE_WEBHOOK_SECRET"
    )
    x402_facilitator_url: str = Field(
        "https://x402.org/facilitator", validation_alias="RELAY_X402_FACILITATOR_URL"
    )
    # CAIP-2; Base Sepolia until production sets Base
    x402_network: str = Field("eip155:84532", validation_alias="RELAY_X402_NETWORK")
    # USDC on Base Sepolia
    x402_asset: str = Field(
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e", validation_alias="RELAY_X402_ASSET"
    )
    x402_pay_to: str = Field(
        "0x0000000000000000000000000000000000000000", validation_alias="RELAY_X402_PAY_TO"
    )
    smtp_host: str = Field("127.0.0.1", validation_alias="RELAY_SMTP_HOST")
    smtp_port: int = Field(1025, validation_alias="RELAY_SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="RELAY_SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="RELAY_SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="RELAY_SMTP_STARTTLS")
    mail_from: str = Field(
        "Killa Tamata <no-reply@killatamata.local>", validation_alias="RELAY_MAIL_FROM"
    )
    google_client_ids: StrList = Field(
        default_factory=list, validation_alias="RELAY_GOOGLE_CLIENT_IDS"
    )
    # Key for signed tokens the media site hands out (affiliate attribution).
    media_token_key: str = Field("local-dev-secret", validation_alias="RELAY_MEDIA_TOKEN_KEY")
    media_public_url: str = Field(
        "http://127.0.0.1:8082", validation_alias="RELAY_MEDIA_PUBLIC_URL"
    )
    # Origins whose pages may sign in / write with the media cookie (empty: the public URL).
    media_allowed_origins: StrList = Field(
        default_factory=list, validation_alias="RELAY_MEDIA_ALLOWED_ORIGINS"
    )
    # Days after a referred top-up before its commission can be paid out (refund window).
    media_commission_hold_days: int = Field(
        14, ge=0, validation_alias="RELAY_MEDIA_COMMISSION_HOLD_DAYS"
    )
    # Sign-in codes started per client IP per hour (per email: 1 a minute, 5 an hour).
    media_email_ip_per_hour: int = Field(30, validation_alias="RELAY_MEDIA_EMAIL_IP_PER_HOUR")
    # Code guesses per client IP per minute (each code also allows only 5 wrong guesses).
    media_verify_ip_per_minute: int = Field(30, validation_alias="RELAY_MEDIA_VERIFY_IP_PER_MINUTE")
    # Code guesses per email per hour from networks that did not start a live code for it
    # (a network's own code has its own 5 attempts); spending it never stops own-network use.
    media_verify_foreign_per_hour: int = Field(
        10, validation_alias="RELAY_MEDIA_VERIFY_FOREIGN_PER_HOUR"
    )
    # X-Forwarded-For entries our own proxies append after the client's (Firebase Hosting: 1).
    trusted_proxy_hops: int = Field(1, ge=0, le=8, validation_alias="RELAY_TRUSTED_PROXY_HOPS")
    # Overrides of shared/engine/ratelimit.py's POLICIES: `checkout.account=20/3600, ...`.
    rate_limits: StrMap = Field(default_factory=dict, validation_alias="RELAY_RATE_LIMITS")
    # Active API keys one account may hold on one site.
    max_active_keys: int = Field(20, ge=1, validation_alias="RELAY_MAX_ACTIVE_KEYS")

    # The Studio agent's LLM (OpenAI Chat Completions; locally infra/local/openai_server.py).
    # A secret: unset means the agent answers 503, the rest of the platform runs.
    openai_api_key: str = Field("", validation_alias="OPENAI_API_KEY", repr=False)
    openai_api_base: str | None = Field(None, validation_alias="RELAY_OPENAI_API_BASE")

    ledger_shards: int = Field(default=4, ge=1, le=64, validation_alias="RELAY_LEDGER_SHARDS")
    job_timeout_s: int = Field(600, validation_alias="RELAY_JOB_TIMEOUT_S")
    dispatch_max_attempts: int = Field(5, validation_alias="RELAY_DISPATCH_MAX_ATTEMPTS")
    allow_private_webhooks: bool = Field(False, validation_alias="RELAY_ALLOW_PRIVATE_WEBHOOKS")

    pics_rate_per_minute: int = Field(60, validation_alias="RELAY_PICS_RATE_PER_MINUTE")
    pics_rate_per_day: int = Field(1000, validation_alias="RELAY_PICS_RATE_PER_DAY")

    # Tarsify: the Firebase projects whose ID tokens sign in developers (studio, admin) and
    # consumers (marketplace); unset, both are `project_id` (one project, the default).
    market_developer_project: str | None = Field(
        None, validation_alias="RELAY_MARKET_DEVELOPER_PROJECT"
    )
    market_consumer_project: str | None = Field(
        None, validation_alias="RELAY_MARKET_CONSUMER_PROJECT"
    )
    # Firebase uids with admin rights besides those whose token carries the `admin` claim.
    market_admin_uids: StrList = Field(
        default_factory=list, validation_alias="RELAY_MARKET_ADMIN_UIDS"
    )
    # Requests per minute, as the Tarsify document tables them.
    market_rate_public: int = Field(100, validation_alias="RELAY_MARKET_RATE_PUBLIC")
    market_rate_authenticated: int = Field(200, validation_alias="RELAY_MARKET_RATE_AUTHENTICATED")
    market_rate_auth: int = Field(10, validation_alias="RELAY_MARKET_RATE_AUTH")
    # Where Stripe Connect onboarding sends a creator when the client names no page.
    market_studio_url: str = Field(
        "http://127.0.0.1:8080", validation_alias="RELAY_MARKET_STUDIO_URL"
    )

    @property
    def on_emulators(self) -> bool:
        return bool(self.firestore_emulator_host)

    def check_secrets(self) -> None:
        if self.on_emulators and self.environment != "production":
            return
        weak = [
            name
            for name in (
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


class _FromEnvironment(Settings):
    """The same fields, read from the process environment over an optional dotenv file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings)


def dev_env_file() -> Path | None:
    """The dotenv file this process takes defaults from, if any: RELAY_ENV_FILE, else the
    dev stack's file when the process lacks the stack's environment; never in production."""
    if os.environ.get("RELAY_ENV") == "production":
        return None
    named = os.environ.get("RELAY_ENV_FILE")
    if not named and "FIRESTORE_EMULATOR_HOST" in os.environ:
        return None
    path = Path(named) if named else DEV_ENV_FILE
    return path if path.exists() else None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (variable name -> text) if given, else from the process."""
    if env is not None:
        settings = Settings.model_validate(dict(env))
    else:
        file = dev_env_file()
        if file is not None:
            for key, value in dotenv_values(file).items():
                if key in EXPORTED_FROM_FILE and value is not None:
                    os.environ.setdefault(key, value)
        read = _FromEnvironment(_env_file=file)  # type: ignore[call-arg]
        settings = Settings.model_validate(read.model_dump())
    settings.check_secrets()
    return settings


@functools.cache
def get_settings() -> Settings:
    return load_settings()

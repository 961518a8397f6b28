import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.engine import settings as settings_module
from shared.engine.settings import (
    EXPORTED_FROM_FILE,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
)


def test_placeholder_secrets_are_refused_outside_the_emulators() -> None:
    with pytest.raises(SettingsError, match="webhook_secret_key"):
        load_settings(
            {
                "RELAY_ENV": "production",
                "RUNPOD_API_KEY": "rp_live_x",
                "RELAY_CALLBACK_SECRET": "a-long-random-callback-secret",
            }
        )


def test_real_secrets_are_accepted_in_production() -> None:
    settings = load_settings(
        {
            "RELAY_ENV": "production",
            "RUNPOD_API_KEY": "rp_live_x",
            "RELAY_CALLBACK_SECRET": "c" * 32,
            "RELAY_WEBHOOK_KEY": "w" * 32,
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_" + "s" * 24,
            "COINBASE_COMMERCE_API_KEY": "cc-" + "k" * 24,
            "COINBASE_COMMERCE_WEBHOOK_SECRET": "cc-" + "w" * 24,
            "RELAY_MEDIA_TOKEN_KEY": "m" * 32,
            "RELAY_GOOGLE_CLIENT_IDS": "a.apps.googleusercontent.com, b.apps.googleusercontent.com",
        }
    )
    assert not settings.on_emulators
    assert settings.google_client_ids == [
        "a.apps.googleusercontent.com",
        "b.apps.googleusercontent.com",
    ]


def test_placeholders_are_fine_on_the_emulators() -> None:
    settings = load_settings({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"})
    assert settings.on_emulators and settings.callback_secret == "local-dev-secret"


def test_maps_parse_from_the_environment() -> None:
    settings = load_settings(
        {
            "FIRESTORE_EMULATOR_HOST": "h:1",
            "RELAY_RUNPOD_ENDPOINTS": "z-image-turbo=abc, flux-schnell=def",
        }
    )
    assert settings.runpod_endpoints == {"z-image-turbo": "abc", "flux-schnell": "def"}


def test_lists_split_on_commas_semicolons_and_spaces() -> None:
    settings = load_settings(
        {"FIRESTORE_EMULATOR_HOST": "h:1", "RELAY_GOOGLE_CLIENT_IDS": "a;b c,,d"}
    )
    assert settings.google_client_ids == ["a", "b", "c", "d"]


def test_every_field_reads_its_own_variable_from_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RELAY_ENV_FILE", raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:7")
    monkeypatch.setenv("RELAY_PROJECT_ID", "demo-other")
    monkeypatch.setenv("RELAY_RUNPOD_ENDPOINTS", "m=e1,n=e2")
    monkeypatch.setenv("RELAY_IMAGE_BACKENDS", "m=modal")
    monkeypatch.setenv("RELAY_GOOGLE_CLIENT_IDS", "x y")
    monkeypatch.setenv("RELAY_SMTP_PORT", "2525")
    monkeypatch.setenv("RELAY_ALLOW_PRIVATE_WEBHOOKS", "1")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_from_env")
    settings = load_settings()
    assert settings.project_id == "demo-other"
    assert settings.runpod_endpoints == {"m": "e1", "n": "e2"}
    assert settings.image_backends == {"m": "modal"}
    assert settings.google_client_ids == ["x", "y"]
    assert settings.smtp_port == 2525 and settings.allow_private_webhooks is True
    assert settings.stripe_api_key == "sk_test_from_env"


def test_a_malformed_number_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:7")
    monkeypatch.setenv("RELAY_LEDGER_SHARDS", "lots")
    with pytest.raises(ValidationError, match="RELAY_LEDGER_SHARDS"):
        load_settings()


def _clear_stack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the stack's variables; monkeypatch restores them (or unsets what the file set)."""
    stack = ("RELAY_ENV", "RELAY_ENV_FILE", "RELAY_PROJECT_ID", "RELAY_RUNPOD_ENDPOINTS")
    for name in (*EXPORTED_FROM_FILE, *stack):
        monkeypatch.setenv(name, "recorded")
        monkeypatch.delenv(name)


def test_the_dev_env_file_gives_defaults_and_exports_emulator_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clear_stack_environment(monkeypatch)
    file = tmp_path / "dev.env"
    file.write_text(
        "# written by make dev\n"
        "FIRESTORE_EMULATOR_HOST=127.0.0.1:8185\n"
        "STORAGE_EMULATOR_HOST=http://127.0.0.1:9123\n"
        "RELAY_PROJECT_ID=demo-from-file\n"
        "RELAY_RUNPOD_ENDPOINTS=a=b,c=d\n"
        "RELAY_TASKS_QUEUE=from-file\n"
    )
    monkeypatch.setenv("RELAY_ENV_FILE", str(file))
    monkeypatch.setenv("RELAY_TASKS_QUEUE", "from-process")  # the process wins over the file
    settings = load_settings()
    assert settings.on_emulators and settings.project_id == "demo-from-file"
    assert settings.runpod_endpoints == {"a": "b", "c": "d"}
    assert settings.tasks_queue == "from-process"
    # The Google libraries read these themselves, so the file's values reach the process.
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == "127.0.0.1:8185"
    assert os.environ["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9123"


def test_the_stack_environment_wins_over_the_default_dev_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clear_stack_environment(monkeypatch)
    file = tmp_path / "dev.env"
    file.write_text("FIRESTORE_EMULATOR_HOST=127.0.0.1:1\nRELAY_PROJECT_ID=demo-from-file\n")
    monkeypatch.setattr(settings_module, "DEV_ENV_FILE", file)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:2")
    settings = load_settings()
    assert settings.firestore_emulator_host == "127.0.0.1:2"
    assert settings.project_id == "demo-relay"  # the file was not read at all


def test_production_never_reads_a_dev_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clear_stack_environment(monkeypatch)
    file = tmp_path / "dev.env"
    file.write_text("FIRESTORE_EMULATOR_HOST=127.0.0.1:1\n")
    monkeypatch.setenv("RELAY_ENV_FILE", str(file))
    monkeypatch.setenv("RELAY_ENV", "production")
    with pytest.raises(SettingsError, match="placeholder secrets"):
        load_settings()
    assert "FIRESTORE_EMULATOR_HOST" not in os.environ


def test_explicit_settings_ignore_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    assert not Settings(environment="production").on_emulators
    assert Settings(project_id="p").project_id == "p"  # field names work as well as aliases


def test_get_settings_is_cached_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()

import pytest

from shared.engine.settings import SettingsError, load_settings


def test_placeholder_secrets_are_refused_outside_the_emulators() -> None:
    with pytest.raises(SettingsError, match="task_secret"):
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
            "RELAY_TASK_SECRET": "t" * 32,
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
    assert settings.on_emulators and settings.task_secret == "local-dev-secret"


def test_maps_parse_from_the_environment() -> None:
    settings = load_settings(
        {
            "FIRESTORE_EMULATOR_HOST": "h:1",
            "RELAY_RUNPOD_ENDPOINTS": "z-image-turbo=abc, flux-schnell=def",
        }
    )
    assert settings.runpod_endpoints == {"z-image-turbo": "abc", "flux-schnell": "def"}

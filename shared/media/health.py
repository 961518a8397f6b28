"""The health payload: service status plus the release/skill compatibility metadata the
document's HealthResponse requires (the companion "skill" is pinned to this API version)."""

from __future__ import annotations

from typing import Any

from shared.engine import clock
from shared.engine.settings import get_settings

RELEASE = "0.7.0"
API_VERSION = "v1"
SKILL_NAME = "killa-tamata"
SKILL_VERSION = "0.7.0"


def payload() -> dict[str, Any]:
    base = get_settings().media_public_url.rstrip("/")
    skill_root = f"{base}/skill"
    return {
        "status": "ok",
        "service": "killa-tamata-api",
        "timestamp": clock.now().isoformat().replace("+00:00", "Z"),
        "version": {
            "release": RELEASE,
            "api": API_VERSION,
            "skill": {
                "name": SKILL_NAME,
                "version": SKILL_VERSION,
                "compatibleApiVersion": API_VERSION,
                "compatibilityPolicy": "exact",
                "autoUpdate": True,
                "manifestUrl": f"{skill_root}/manifest.json",
                "metadataUrl": f"{skill_root}/metadata.json",
                "rootUrl": f"{skill_root}/",
                "entrypointUrl": f"{skill_root}/SKILL.md",
            },
        },
    }

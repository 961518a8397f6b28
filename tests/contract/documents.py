"""The seed documents (and the documents Relay serves itself, docs/api/) as schemathesis
schemas, and the response checks every site runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def load(seed_file: str) -> Any:
    return schemathesis.openapi.from_dict(yaml.safe_load((SEEDS / seed_file).read_text()))


def load_served(document_file: str) -> Any:
    return schemathesis.openapi.from_dict(yaml.safe_load((DOCS / document_file).read_text()))

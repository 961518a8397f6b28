"""What a marketplace run sends to its handler, built from three layers and checked once.

payload = the base model input schema's top-level `default`s <- the tars model's
`configOverrides` <- the consumer's `inputs` (later layers win, key by key, top level
only). The payload must validate against the base model's input JSON Schema (Draft
2020-12); then the base model's fixed input (the handler's own fields, e.g. model and
steps, which the consumer's schema does not describe) is merged over it: that is the job
input. What can never happen: a run whose input the schema refuses is submitted (nothing
is held), or a client value reaches Firestore that it cannot store (a key Firestore
refuses, an array inside an array, nesting past its depth limit, an integer past 64 bits,
a non-finite number, a document past its size limit): each is an INVALID error naming the
field, raised before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation
from referencing.exceptions import Unresolvable

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import MAX_INT, check_field_key

INVALID_CODE = "ERR_2001"
# Firestore nests maps/arrays at most 20 deep; the inputs sit two levels down in the job
# document (`site_fields.inputs`), so they may use what is left with a margin.
MAX_DEPTH = 16
# A job document carries the inputs twice (as given, and merged into the job input); both
# must fit in Firestore's 1 MiB document with room for the rest of the job.
MAX_INPUT_BYTES = 256 * 1024
MAX_REPORTED_ERRORS = 20


def invalid(message: str, fields: list[dict[str, str]]) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"code": INVALID_CODE, "fields": fields})


def _where(path: list[str]) -> str:
    return ".".join(path) or "inputs"


def _refuse(path: list[str], message: str) -> AppError:
    return invalid("Invalid input value", [{"field": _where(path), "message": message}])


def check_storable(value: Any, *, path: list[str] | None = None, depth: int = 0) -> None:
    """Refuse what Firestore cannot store (see the module docstring); INVALID names where."""
    path = path or []
    if depth > MAX_DEPTH:
        raise _refuse(path, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                check_field_key(key)
            except ValueError as exc:
                raise _refuse([*path, key[:100]], f"invalid name: {exc}") from None
            check_storable(item, path=[*path, key], depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list):
                raise _refuse([*path, str(index)], "an array may not directly hold an array")
            check_storable(item, path=[*path, str(index)], depth=depth + 1)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
        raise _refuse(path, "integer out of the 64-bit range")
    elif isinstance(value, float) and not math.isfinite(value):
        raise _refuse(path, "number must be finite")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(*, slug: str, inputs: dict[str, Any]) -> str:
    """What an Idempotency-Key binds: the model's slug and the consumer's inputs."""
    return hashlib.sha256(f"{slug}\n{canonical(inputs)}".encode()).hexdigest()


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {
        name: spec["default"]
        for name, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec
    }


def _field_of(error: SchemaViolation) -> str:
    """The input a schema violation is about: its path, or the property a `required` or
    `additionalProperties` rule names."""
    path = [str(p) for p in error.absolute_path]
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [n for n in error.validator_value if n not in instance]
        if missing:
            path.append(str(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(k for k in instance if k not in properties)
        if extra:
            path.append(extra[0])
    return _where(path)


def validate_payload(payload: dict[str, Any], schema: dict[str, Any]) -> None:
    """INVALID (ERR_2001) with one `{field, message}` per violation of the input schema. A
    schema that is itself broken (or refers to a schema it does not hold: nothing is fetched)
    means the base model cannot run: ERR_5509."""
    try:
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.path)))
    except (SchemaError, Unresolvable):
        message = "Base model input schema is not usable"
        raise AppError(ErrorKind.INVALID, message, {"code": "ERR_5509"}) from None
    if errors:
        fields = [{"field": _field_of(e), "message": e.message} for e in errors]
        raise invalid("Inputs do not match the model's input schema", fields[:MAX_REPORTED_ERRORS])


def build(
    *,
    inputs: dict[str, Any],
    schema: dict[str, Any],
    overrides: dict[str, Any],
    fixed: dict[str, Any],
) -> dict[str, Any]:
    """The job input for `inputs` (see the module docstring); INVALID when refused."""
    check_storable(inputs)
    if len(canonical(inputs).encode()) > MAX_INPUT_BYTES:
        message = f"at most {MAX_INPUT_BYTES} bytes of JSON"
        raise invalid("Inputs are too large", [{"field": "inputs", "message": message}])
    payload = {**schema_defaults(schema), **overrides, **inputs}
    validate_payload(payload, schema)
    job_input = {**payload, **fixed}
    check_storable(job_input)
    if len(canonical(job_input).encode()) > MAX_INPUT_BYTES:
        message = f"at most {MAX_INPUT_BYTES} bytes of JSON"
        raise invalid("Inputs are too large", [{"field": "inputs", "message": message}])
    return job_input

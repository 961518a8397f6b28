"""Stripe's request wire format: bracket-notation form decoding, parameter specs and errors.

Stripe's v1 API takes ``application/x-www-form-urlencoded`` bodies (and query strings) whose keys
use bracket notation: ``metadata[job_id]=j1``, ``line_items[0][price_data][unit_amount]=500``,
``expand[]=payment_intent`` (the Python SDK sends ``expand[0]=...``). :func:`decode_pairs` turns
them into nested dicts and lists; :class:`Obj` and friends then check every parameter against
what the endpoint accepts, coerce integers and booleans, and raise :class:`StripeError` with
Stripe's own messages, codes and ``param`` paths. Unknown parameters are rejected like Stripe
rejects them, so a typo in production code fails here too instead of silently passing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INT = re.compile(r"^-?\d+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[a-z]{3}$")

# Stripe's metadata limits.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LEN = 40
METADATA_MAX_VALUE_LEN = 500


class StripeError(Exception):
    """An error rendered in Stripe's envelope: ``{"error": {"type", "message", "code", ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def invalid(param: str, message: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param or None)


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def no_such(
    object_name: str, object_id: str, *, param: str = "id", status: int = 404
) -> StripeError:
    return StripeError(
        status, f"No such {object_name}: '{object_id}'", code="resource_missing", param=param
    )


def unsupported(param: str, why: str = "") -> StripeError:
    # Honest refusal: accepting and ignoring a parameter whose semantics this server does not
    # emulate would let production code pass locally and misbehave against real Stripe.
    detail = f" ({why})" if why else ""
    return invalid(param, f"The local Stripe server does not support `{param}`{detail}.")


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Decode bracket-notation form pairs into nested dicts/lists (a later scalar wins)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        segments = [match.group(1), *_SEGMENT.findall(match.group(2))] if match else [key]
        node = root
        for depth, segment in enumerate(segments):
            name = segment if segment != "" else str(len(node))  # "a[]" appends
            last = depth == len(segments) - 1
            if last:
                if isinstance(node.get(name), dict):
                    raise invalid(key, f"Invalid {key}: conflicting values were sent for it")
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise invalid(key, f"Invalid {key}: conflicting values were sent for it")
                node = child
    return _listify(root, parent="", path="")


def _listify(node: dict[str, Any], *, parent: str, path: str) -> Any:
    out: dict[str, Any] = {}
    for key, value in node.items():
        child_path = f"{path}[{key}]" if path else key
        out[key] = (
            _listify(value, parent=key, path=child_path) if isinstance(value, dict) else value
        )
    # Metadata keys are free-form, so "metadata[0]" stays a key, as on Stripe.
    if out and parent != "metadata" and all(k.isdigit() for k in out):
        indexes = sorted(int(k) for k in out)
        if indexes != list(range(len(indexes))):
            raise invalid(path, "Invalid array")
        return [out[str(i)] for i in indexes]
    return out


# ---------------------------------------------------------------------------------------------
# Specs


class Spec:
    """How one parameter is checked and coerced; ``path`` is its bracket-notation name."""

    def coerce(self, value: Any, path: str) -> Any:
        raise NotImplementedError


def _expect_scalar(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, f"Invalid {what}: {path} must be a {what}, not a hash or array")
    return value


@dataclass(frozen=True)
class Str(Spec):
    choices: tuple[str, ...] = ()
    max_len: int | None = None

    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "string")
        if self.choices and text not in self.choices:
            raise invalid(path, f"Invalid {path}: must be one of {', '.join(self.choices)}")
        if self.max_len is not None and len(text) > self.max_len:
            raise invalid(
                path,
                f"Invalid {path}: must be at most {self.max_len} characters",
                "string_too_long",
            )
        return text


@dataclass(frozen=True)
class Email(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "string")
        if not _EMAIL.match(text):
            raise invalid(path, f"Invalid email address: {text}", "email_invalid")
        return text


@dataclass(frozen=True)
class Url(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "string")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(path, "Not a valid URL", "url_invalid")
        return text


@dataclass(frozen=True)
class Currency(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "string").lower()
        if not _CURRENCY.match(text):
            raise invalid(path, f"Invalid currency: {value}.")
        return text


@dataclass(frozen=True)
class Int(Spec):
    minimum: int | None = None
    maximum: int | None = None

    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "integer")
        if not _INT.match(text):
            raise invalid(path, f"Invalid integer: {text}", "parameter_invalid_integer")
        number = int(text)
        if self.minimum is not None and number < self.minimum:
            raise invalid(path, f"This value must be greater than or equal to {self.minimum}.")
        if self.maximum is not None and number > self.maximum:
            raise invalid(path, f"This value must be less than or equal to {self.maximum}.")
        return number


@dataclass(frozen=True)
class Bool(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        text = _expect_scalar(value, path, "boolean")
        if text not in ("true", "false"):
            raise invalid(path, f"Invalid boolean: {text}")
        return text == "true"


@dataclass(frozen=True)
class Metadata(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        if value == "":  # "metadata=" unsets all keys
            return {}
        if not isinstance(value, dict):
            raise invalid(
                path, "Invalid metadata: metadata must be a hash of string keys and values"
            )
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid(f"{path}[{key}]", "Invalid metadata: values must be strings")
            if len(key) > METADATA_MAX_KEY_LEN:
                raise invalid(
                    path,
                    f"Invalid metadata: keys can be at most {METADATA_MAX_KEY_LEN} characters "
                    f"long, but you passed '{key}'",
                )
            if len(item) > METADATA_MAX_VALUE_LEN:
                raise invalid(
                    f"{path}[{key}]",
                    f"Invalid metadata: values can be at most {METADATA_MAX_VALUE_LEN} characters",
                )
            if item != "":  # "metadata[k]=" unsets k
                out[key] = item
        if len(out) > METADATA_MAX_KEYS:
            raise invalid(
                path,
                f"Invalid metadata: metadata can have up to {METADATA_MAX_KEYS} keys, but you "
                f"passed in {len(out)} keys.",
            )
        return out


@dataclass(frozen=True)
class Arr(Spec):
    item: Spec
    max_items: int | None = None

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise invalid(path, "Invalid array")
        if self.max_items is not None and len(value) > self.max_items:
            raise invalid(path, f"Invalid array: {path} can have at most {self.max_items} items")
        return [self.item.coerce(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class Obj(Spec):
    fields: Mapping[str, Spec] = field(default_factory=dict)

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(path, "Invalid object")
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}[{key}]" if path else key
            spec = self.fields.get(key)
            if spec is None:
                raise invalid(child, f"Received unknown parameter: {child}", "parameter_unknown")
            if item == "" and not isinstance(spec, Metadata):
                # Stripe reads "" as "unset", which a create call cannot do.
                raise invalid(
                    child,
                    f"You passed an empty string for '{child}'. We assume empty values are an "
                    f"attempt to unset a parameter; however '{child}' cannot be unset. You should "
                    f"remove '{child}' from your request or supply a non-empty value.",
                )
            out[key] = spec.coerce(item, child)
        return out


@dataclass(frozen=True)
class Map(Spec):
    """A hash with free-form keys (e.g. ``capabilities[card_payments][requested]``)."""

    value: Spec

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(path, "Invalid object")
        return {k: self.value.coerce(v, f"{path}[{k}]") for k, v in value.items()}


@dataclass(frozen=True)
class Range(Spec):
    """A timestamp filter: ``created=123`` or ``created[gte]=123``."""

    def coerce(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return {"eq": Int().coerce(value, path)}
        bound = Int()
        return Obj({"gt": bound, "gte": bound, "lt": bound, "lte": bound}).coerce(value, path)


@dataclass(frozen=True)
class Anything(Spec):
    """Accepted and stored as sent: cosmetic options whose effect nothing in Relay observes."""

    def coerce(self, value: Any, path: str) -> Any:
        return value


@dataclass(frozen=True)
class Unsupported(Spec):
    why: str = ""

    def coerce(self, value: Any, path: str) -> Any:
        raise unsupported(path, self.why)


EXPAND = Arr(Str())
LIST_FIELDS: dict[str, Spec] = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
    "ending_before": Str(),
    "created": Range(),
}


def parse(params: dict[str, Any], fields: Mapping[str, Spec]) -> dict[str, Any]:
    """Check ``params`` against an endpoint's accepted ``fields`` (``expand`` is always allowed)."""
    return Obj({**fields, "expand": EXPAND}).coerce(params, "")


def require(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) is None:
            raise missing(name)

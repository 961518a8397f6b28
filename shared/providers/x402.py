"""The x402 port: asking for, verifying and settling x402 payments through a facilitator.

Speaks x402 protocol version 2 with the SDK's own types and mechanisms: the EVM "exact"
scheme (an EIP-3009 `transferWithAuthorization` of USDC), base64 JSON in the
PAYMENT-REQUIRED / PAYMENT-SIGNATURE / PAYMENT-RESPONSE headers, and the facilitator's
/supported, /verify and /settle over HTTP. Production and local runs share every line; only
`x402_facilitator_url` differs (infra/local/x402_facilitator.py locally). Invariants:
prices are integer USD cents and travel as USDC atomic units (cents * 10_000), never floats;
a payment's id (sha256 of network, payer and authorization nonce) is known before it settles,
so a replayed header always maps to the same id; nothing is settled unless the payment
matches exactly what we ask for (scheme, network, asset, amount, payTo, timeout) and the
facilitator verified it; a facilitator's verdict against the payment is `PaymentRejected`
(answer 402 again), while an unreachable or broken facilitator, or a settlement it could not
confirm, is `AppError(UNAVAILABLE)` and never a rejection. The SDK is imported lazily: its
EVM module costs about two seconds the first time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

if TYPE_CHECKING:
    from x402 import PaymentPayload, PaymentRequirements

ATOMIC_PER_CENT = 10_000  # USDC has 6 decimals
USDC_DECIMALS = 6
SCHEME = "exact"
X402_VERSION = 2
MAX_TIMEOUT_S = 300  # how long a signed authorization stays valid (validBefore = now + this)
FACILITATOR_TIMEOUT_S = 30.0  # /settle waits for the transfer to be mined
MAX_HEADER_CHARS = 16_384
# Which request headers may carry a payment, in order of preference.
PAYMENT_HEADERS = ("PAYMENT-SIGNATURE", "X-PAYMENT")
NO_MATCH = "no_matching_payment_requirements"
SETTLEMENT_PENDING = "settlement_pending"

_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
_UINT = r"^[0-9]{1,78}$"
_ZERO_ADDRESS = "0x" + "0" * 40
_STATUS_IN_SDK_ERROR = re.compile(r"failed \((\d{3})\)")


@dataclass(frozen=True)
class Settlement:
    payment_id: str
    payer: str
    network: str
    transaction: str
    amount_atomic: int
    response_header: str


class PaymentRejected(Exception):
    """The facilitator (or our matching) refused the payment; answer 402 with `required_header`."""

    def __init__(self, reason: str, required_header: str):
        super().__init__(reason)
        self.reason = reason
        self.required_header = required_header


class _Authorization(BaseModel):
    """The EIP-3009 authorization inside an exact-scheme payload, checked at the boundary."""

    model_config = ConfigDict(populate_by_name=True)

    from_address: str = Field(alias="from", pattern=_ADDRESS)
    to: str = Field(pattern=_ADDRESS)
    value: str = Field(pattern=_UINT)
    validAfter: str = Field(pattern=_UINT)
    validBefore: str = Field(pattern=_UINT)
    nonce: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class _ExactPayload(BaseModel):
    authorization: _Authorization
    signature: str = Field(pattern=r"^0x([0-9a-fA-F]{2}){65,}$")


@dataclass(frozen=True)
class _Parsed:
    payload: PaymentPayload
    authorization: _Authorization
    payment_id: str


def payment_header(headers: Mapping[str, str]) -> str | None:
    """The client's payment header (PAYMENT-SIGNATURE, else legacy X-PAYMENT), if any."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = name.upper()
        if key in PAYMENT_HEADERS and value and value.strip():
            found.setdefault(key, value.strip())
    return next((found[name] for name in PAYMENT_HEADERS if name in found), None)


def payment_id(header_value: str) -> str:
    """The payment's stable id; AppError INVALID when the header is not an x402 v2 payment."""
    return _parse(header_value).payment_id


def requirements(*, usd_cents: int, resource_url: str, description: str) -> PaymentRequirements:
    """What we accept for `usd_cents`: exact USDC on our network to our payTo.

    `resource_url` and `description` describe the resource in the 402 (`resource`), not the
    requirements themselves; they are taken here so every function reads the same way.
    """
    from x402 import AssetAmount, ResourceConfig
    from x402.mechanisms.evm.default_assets import find_default_asset

    if isinstance(usd_cents, bool) or not isinstance(usd_cents, int) or usd_cents <= 0:
        raise AppError(ErrorKind.INVALID, "usd_cents must be a positive integer")
    settings = get_settings()
    pay_to = settings.x402_pay_to
    if not re.fullmatch(_ADDRESS, pay_to) or pay_to.lower() == _ZERO_ADDRESS:
        raise AppError(ErrorKind.INTERNAL, "x402 payments are not configured (x402_pay_to)")
    known = find_default_asset(settings.x402_asset, settings.x402_network)
    if known is None or known["decimals"] != USDC_DECIMALS:
        raise AppError(
            ErrorKind.INTERNAL,
            "x402_asset is not a known 6-decimal EIP-3009 token on x402_network",
            {"asset": settings.x402_asset, "network": settings.x402_network},
        )
    server = _server(settings.x402_facilitator_url, settings.x402_network)
    config = ResourceConfig(
        scheme=SCHEME,
        pay_to=pay_to,
        price=AssetAmount(amount=str(usd_cents * ATOMIC_PER_CENT), asset=settings.x402_asset),
        network=settings.x402_network,
        max_timeout_seconds=MAX_TIMEOUT_S,
    )
    [required] = server.build_payment_requirements(config)
    return required


def payment_required_header(
    *, usd_cents: int, resource_url: str, description: str, error: str | None = None
) -> str:
    """The PAYMENT-REQUIRED value (base64 JSON of the SDK's PaymentRequired, version 2)."""
    from x402 import ResourceInfo
    from x402.http import encode_payment_required_header

    required = requirements(usd_cents=usd_cents, resource_url=resource_url, description=description)
    settings = get_settings()
    server = _server(settings.x402_facilitator_url, settings.x402_network)
    answer = server.create_payment_required_response(
        [required],
        resource=ResourceInfo(
            url=resource_url, description=description, mime_type="application/json"
        ),
        error=error,
    )
    return encode_payment_required_header(answer)


def payment_reference(header_value: str) -> dict[str, str]:
    """What identifies the payment on chain before it settles: network, payer and the
    EIP-3009 authorization nonce (kept on the purchase record for reconciliation)."""
    parsed = _parse(header_value)
    return {
        "network": str(parsed.payload.accepted.network),
        "payer": parsed.authorization.from_address,
        "nonce": parsed.authorization.nonce,
    }


def verify_and_settle(
    *, header_value: str, usd_cents: int, resource_url: str, description: str
) -> Settlement:
    """Verify the payment with the facilitator, then settle it; the settled transfer or a refusal.

    Raises PaymentRejected when the payment does not match or the facilitator refuses it
    (a used nonce included), AppError INVALID for a malformed header, and AppError
    UNAVAILABLE when the facilitator cannot be reached or could not confirm the transfer.
    """
    from x402.http import encode_payment_response_header

    parsed = _parse(header_value)
    required = requirements(usd_cents=usd_cents, resource_url=resource_url, description=description)
    settings = get_settings()
    server = _server(settings.x402_facilitator_url, settings.x402_network)

    def rejected(reason: str) -> PaymentRejected:
        header = payment_required_header(
            usd_cents=usd_cents, resource_url=resource_url, description=description, error=reason
        )
        return PaymentRejected(reason, header)

    matched = server.find_matching_requirements([required], parsed.payload)
    if matched is None:
        raise rejected(NO_MATCH)
    with _facilitator_call("verify", rejected):
        verified = server.verify_payment(parsed.payload, matched)
    if not verified.is_valid:
        raise rejected(verified.invalid_reason or "invalid_payment")
    with _facilitator_call("settle", rejected):
        settled = server.settle_payment(parsed.payload, matched)
    if not settled.success and settled.error_reason == SETTLEMENT_PENDING:
        # Broadcast but unconfirmed: money may have moved, so this is no refusal.
        raise AppError(
            ErrorKind.UNAVAILABLE,
            "the x402 settlement is not confirmed yet",
            {"transaction": settled.transaction, "paymentId": parsed.payment_id},
        )
    if not settled.success:
        raise rejected(settled.error_reason or "settlement_failed")
    payer = parsed.authorization.from_address
    if settled.payer and settled.payer.lower() != payer.lower():
        raise AppError(ErrorKind.INTERNAL, "the facilitator settled for another payer")
    return Settlement(
        payment_id=parsed.payment_id,
        payer=payer,
        network=str(settled.network or matched.network),
        transaction=settled.transaction,
        amount_atomic=int(settled.amount or parsed.authorization.value),
        response_header=encode_payment_response_header(settled),
    )


def _parse(header_value: str) -> _Parsed:
    from x402 import PaymentPayload
    from x402.http import decode_payment_signature_header

    if not isinstance(header_value, str) or not 0 < len(header_value) <= MAX_HEADER_CHARS:
        raise AppError(ErrorKind.INVALID, "missing or oversized x402 payment header")
    try:
        payload = decode_payment_signature_header(header_value.strip())
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # nested JSON
        raise AppError(ErrorKind.INVALID, "malformed x402 payment header") from exc
    if not isinstance(payload, PaymentPayload) or payload.x402_version != X402_VERSION:
        raise AppError(
            ErrorKind.INVALID,
            "only x402 version 2 payments are accepted (PAYMENT-SIGNATURE)",
            {"code": "unsupported_x402_version"},
        )
    try:
        exact = _ExactPayload.model_validate(payload.payload)
    except ValidationError as exc:
        raise AppError(
            ErrorKind.INVALID, "x402 payment is not a signed EIP-3009 authorization"
        ) from exc
    auth = exact.authorization
    identity = "|".join((payload.accepted.network, auth.from_address.lower(), auth.nonce.lower()))
    return _Parsed(
        payload=payload,
        authorization=auth,
        payment_id=hashlib.sha256(identity.encode()).hexdigest(),
    )


@functools.lru_cache(maxsize=8)
def _server(facilitator_url: str, network: str) -> Any:
    """The SDK's resource server for one facilitator and network, initialised from /supported.

    Cached per (url, network); a failed initialisation is not cached, so it is retried.
    """
    import httpx
    from x402 import x402ResourceServerSync
    from x402.http import FacilitatorConfig, HTTPFacilitatorClientSync
    from x402.mechanisms.evm.exact import ExactEvmServerScheme

    http = httpx.Client(timeout=httpx.Timeout(FACILITATOR_TIMEOUT_S, connect=5.0))
    client = HTTPFacilitatorClientSync(FacilitatorConfig(url=facilitator_url, http_client=http))
    server = x402ResourceServerSync(client)
    server.register(network, ExactEvmServerScheme())  # type: ignore[arg-type]  # SDK typing
    with _facilitator_call("supported", None):
        server.initialize()
    if server.get_supported_kind(X402_VERSION, network, SCHEME) is None:
        raise AppError(
            ErrorKind.UNAVAILABLE,
            "the x402 facilitator does not support this network",
            {"network": network},
        )
    return server


@contextlib.contextmanager
def _facilitator_call(
    step: str, rejected: Callable[[str], PaymentRejected] | None
) -> Iterator[None]:
    """Facilitator failures as our errors: 400/422 refuse the payment, the rest is an outage."""
    import httpx
    from x402.http.facilitator_client import FacilitatorResponseError
    from x402.schemas import FacilitatorCapabilityError, PaymentError

    try:
        yield
    except AppError:
        raise
    except httpx.HTTPError as exc:
        raise _unavailable(step, "unreachable") from exc
    except (FacilitatorResponseError, FacilitatorCapabilityError) as exc:
        raise _unavailable(step, "answered malformed data") from exc
    except PaymentError as exc:  # e.g. no facilitator client for the scheme and network
        raise _unavailable(step, "cannot take this payment") from exc
    except ValueError as exc:
        # The SDK client raises "Facilitator <step> failed (<status>): <body>" for non-200.
        status = _STATUS_IN_SDK_ERROR.search(str(exc))
        if rejected is not None and status and status.group(1) in ("400", "422"):
            raise rejected("facilitator_rejected_payment") from exc
        raise _unavailable(step, "failed") from exc
    except RuntimeError as exc:  # initialize(): no supported kinds at all
        raise _unavailable(step, "supports nothing") from exc


def _unavailable(step: str, what: str) -> AppError:
    return AppError(ErrorKind.UNAVAILABLE, f"the x402 facilitator {what}", {"step": step})

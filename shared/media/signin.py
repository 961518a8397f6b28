"""Signing in to Killa Tamata: Google ID tokens, emailed one-time codes, device links.

Invariants:
- A one-time code is never stored or logged in plain text: the record keeps an HMAC of it
  under a server key (a 6-digit code's bare hash would fall to a 10^6 search). A code
  lives 10 minutes, allows 5 wrong guesses (counted by atomic increment, so parallel
  guesses cannot exceed it), and is consumed by a delete preconditioned on existence, so
  two concurrent correct guesses sign in once.
- Nobody can spend another's sign-in: a start is charged to the client network first, then
  to (email, network), and replaces only that network's code, so an email has several live
  codes. A guess from a network with a live code of its own is checked against that code
  only (its 5 attempts); from any other network, against the email's newest live codes
  under a per-email foreign-guess budget that never touches a code's own attempts. An
  attacker can exhaust that budget, never a victim's own-network sign-in; brute force is
  bounded by the budget (and each network's own 5 guesses at its own code).
- Minting a media key (sign-in, POST /keys, device links) is limited per network, then per
  account, and an account holds at most `max_active_keys` active media keys.
- A device link hands its API key over exactly once: the approved request moves to
  `consumed` under a precondition on its last update before the key is minted.
- Google tokens are verified with google-auth against the configured client ids; on the
  local stack they come from the Firebase Auth emulator (google.com provider) and are
  verified by firebase-admin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from shared.engine import clock, identity, ratelimit
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Account, Site
from shared.engine.settings import get_settings
from shared.engine.store import ACCOUNTS, CONFLICTS, db, increment
from shared.providers import mail as mailer

EMAIL_CODES = "email_codes"
DEVICE_LINKS = "device_links"
DEVICE_USER_CODES = "device_user_codes"

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
START_LIMITS_EMAIL = [(60, 1), (3600, 5)]  # per (email, client network): (window s, max)
FOREIGN_CODES_CHECKED = 5  # a guess from another network is checked against this many codes
DEVICE_TTL = dt.timedelta(minutes=10)
DEVICE_POLL_INTERVAL_S = 5
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes


@dataclass(frozen=True)
class IssuedKey:
    api_key: str
    account: Account
    label: str


def admit_key(*, account_id: str, network: str) -> None:
    """May one more media key be minted for the account from this network? The mint rate
    (per network, then per account) and the active-key cap; refused, nothing is minted."""
    ratelimit.limit("key_mint", network=network, account_id=account_id)
    cap = get_settings().max_active_keys
    active = [
        k
        for k in identity.list_api_keys(account_id)
        if k.site == Site.MEDIA and k.revoked_at is None
    ]
    if len(active) >= cap:
        raise AppError(
            ErrorKind.CONFLICT,
            f"at most {cap} active API keys; revoke one first",
            {"code": "key_limit_reached", "maxActiveKeys": cap},
        )


def issue_key(*, account: Account, label: str | None, network: str) -> IssuedKey:
    admit_key(account_id=account.id, network=network)
    return _mint(account=account, label=label)


def _mint(*, account: Account, label: str | None) -> IssuedKey:
    label = label or "default"
    raw = identity.create_api_key(account_id=account.id, site=Site.MEDIA, label=label)
    return IssuedKey(api_key=raw, account=account, label=label)


# --- Google -------------------------------------------------------------------------


def google_account(id_token: str) -> Account:
    """The account behind a verified Google ID token (created on first sign-in)."""
    settings = get_settings()
    if settings.auth_emulator_host and settings.environment == "local":
        claims = identity.verify_id_token(id_token)
        provider = (claims.get("firebase") or {}).get("sign_in_provider")
        if provider != "google.com":
            raise AppError(ErrorKind.UNAUTHENTICATED, "not a Google sign-in token")
        if not claims.get("email_verified", False):
            raise AppError(ErrorKind.UNAUTHENTICATED, "Google email is not verified")
        return identity.account_for_token(claims)
    claims = _verify_google(id_token, settings.google_client_ids)
    return identity.create_account(email=claims["email"], display_name=claims.get("name"))


def _verify_google(id_token: str, audiences: list[str]) -> dict[str, Any]:
    import google.auth.exceptions
    import google.auth.transport.requests
    from google.oauth2 import id_token as google_id_token

    if not audiences:
        raise AppError(ErrorKind.UNAVAILABLE, "Google sign-in is not configured")
    try:
        claims = google_id_token.verify_oauth2_token(
            id_token, google.auth.transport.requests.Request(), audience=None
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid Google ID token") from exc
    if claims.get("aud") not in audiences or not claims.get("email_verified"):
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid Google ID token")
    return claims


# --- email one-time codes -------------------------------------------------------------


def _normal(email: str) -> str:
    return email.strip().lower()


def _email_hash(email: str) -> str:
    return hashlib.sha256(_normal(email).encode()).hexdigest()


def code_ref(*, email: str, network: str) -> Any:
    """The one live code of `email` started from `network` (a start replaces only it)."""
    digest = hashlib.sha256(f"{_normal(email)}|{network}".encode()).hexdigest()
    return db().collection(EMAIL_CODES).document(digest)


def _code_mac(email: str, code: str) -> str:
    key = get_settings().media_token_key.encode()
    return hmac.new(key, f"{_normal(email)}:{code}".encode(), hashlib.sha256).hexdigest()


def start_email(*, email: str, network: str) -> dt.datetime:
    """Send a fresh code (replacing this network's earlier one); returns when it expires.
    The network's limit is charged first, then the (email, network) one: a request another
    network makes never spends the allowance of the victim's."""
    ratelimit.hit(
        subject=f"media-email-ip:{network}",
        limits=[(3600, get_settings().media_email_ip_per_hour)],
    )
    ratelimit.hit(subject=f"media-email:{_email_hash(email)}:{network}", limits=START_LIMITS_EMAIL)
    code = f"{secrets.randbelow(10**6):06d}"
    now = clock.now()
    expires = now + CODE_TTL
    code_ref(email=email, network=network).set(
        {
            "email_hash": _email_hash(email),
            "mac": _code_mac(email, code),
            "attempts": 0,
            "created_at": now,
            "expires_at": expires,
        }
    )
    mailer.send(
        to=email.strip(),
        subject=f"Your Killa Tamata sign-in code: {code}",
        text=(
            f"Your Killa Tamata sign-in code is {code}.\n\n"
            f"It expires in {int(CODE_TTL.total_seconds() // 60)} minutes. "
            "If you did not ask for it, ignore this message."
        ),
    )
    return expires


def verify_email(*, email: str, code: str, network: str) -> Account:
    """The account for `email` once `code` matches; the code is then spent. A guess from a
    network with a live code of its own is checked against that code (its 5 attempts); from
    any other network, against the email's newest live codes, under the email's foreign-guess
    budget, which never touches a code's own attempts."""
    ratelimit.hit(
        subject=f"media-verify-ip:{network}",
        limits=[(60, get_settings().media_verify_ip_per_minute)],
    )
    own = code_ref(email=email, network=network)
    snap = own.get()
    if snap.exists and snap.to_dict()["expires_at"] > clock.now():
        _attempt(own, snap.to_dict())
        matched = own if hmac.compare_digest(snap.get("mac"), _code_mac(email, code)) else None
    else:
        matched = _foreign_match(email=email, code=code, expired=snap.exists)
    if matched is None:
        raise _INVALID
    from google.cloud import firestore

    try:
        matched.delete(option=firestore.Client.write_option(exists=True))
    except CONFLICTS as exc:
        raise _INVALID from exc
    account = identity.create_account(email=email)
    db().collection(ACCOUNTS).document(account.id).update({"last_login_at": clock.now()})
    return account


_INVALID = AppError(ErrorKind.INVALID, "invalid or expired code", {"code": "invalid_code"})


def _attempt(ref: Any, data: dict[str, Any]) -> None:
    """Count one guess against a code (atomic increment); past MAX_ATTEMPTS, RATE_LIMITED."""
    try:
        result = ref.update({"attempts": increment(1)})
    except CONFLICTS as exc:  # spent meanwhile
        raise _INVALID from exc
    attempts = int(result.transform_results[0].integer_value) if result.transform_results else 0
    if attempts > MAX_ATTEMPTS:
        raise AppError(
            ErrorKind.RATE_LIMITED,
            "too many attempts; request a new code",
            {"code": "too_many_attempts", "retry_after": 60},
        )


def _foreign_match(*, email: str, code: str, expired: bool) -> Any | None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    ratelimit.hit(
        subject=f"media-verify-foreign:{_email_hash(email)}",
        limits=[(3600, get_settings().media_verify_foreign_per_hour)],
    )
    query = (
        db()
        .collection(EMAIL_CODES)
        .where(filter=FieldFilter("email_hash", "==", _email_hash(email)))
        .limit(FOREIGN_CODES_CHECKED * 4)
    )
    now = clock.now()
    live = sorted(
        (snap for snap in query.stream() if snap.get("expires_at") > now),
        key=lambda snap: snap.get("created_at"),
        reverse=True,
    )[:FOREIGN_CODES_CHECKED]
    mac = _code_mac(email, code)
    for snap in live:
        if hmac.compare_digest(snap.get("mac"), mac) and snap.get("attempts") < MAX_ATTEMPTS:
            return snap.reference
    if expired and not live:
        raise AppError(ErrorKind.INVALID, "code expired", {"code": "code_expired"})
    return None


# --- device links ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceLink:
    user_code: str
    status: str  # pending | approved | consumed | expired
    key_label: str
    expires_at: dt.datetime
    account_id: str | None


def _device_ref(device_code: str) -> Any:
    return db().collection(DEVICE_LINKS).document(hashlib.sha256(device_code.encode()).hexdigest())


def _user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normal_user_code(user_code: str) -> str:
    plain = "".join(ch for ch in user_code.upper() if ch.isalnum())
    return f"{plain[:4]}-{plain[4:]}" if len(plain) == 8 else plain


def start_device(*, key_label: str | None, network: str) -> tuple[str, DeviceLink]:
    ratelimit.limit("device_start", network=network)
    device_code = secrets.token_urlsafe(32)
    now = clock.now()
    link = DeviceLink(
        user_code=_user_code(),
        status="pending",
        key_label=key_label or "device",
        expires_at=now + DEVICE_TTL,
        account_id=None,
    )
    ref = _device_ref(device_code)
    batch = db().batch()
    batch.create(
        db().collection(DEVICE_USER_CODES).document(link.user_code),
        {"device": ref.id, "expires_at": link.expires_at},
    )
    batch.create(
        ref,
        {
            "user_code": link.user_code,
            "status": "pending",
            "key_label": link.key_label,
            "created_at": now,
            "expires_at": link.expires_at,
            "account_id": None,
        },
    )
    batch.commit()
    return device_code, link


def _link(data: dict[str, Any]) -> DeviceLink:
    status = data["status"]
    if status in ("pending", "approved") and data["expires_at"] <= clock.now():
        status = "expired"
    return DeviceLink(
        user_code=data["user_code"],
        status=status,
        key_label=data["key_label"],
        expires_at=data["expires_at"],
        account_id=data.get("account_id"),
    )


def _by_user_code(user_code: str) -> tuple[Any, Any]:
    code = normal_user_code(user_code)
    index = db().collection(DEVICE_USER_CODES).document(code).get() if code else None
    if index is None or not index.exists:
        raise AppError(ErrorKind.NOT_FOUND, "unknown device code")
    ref = db().collection(DEVICE_LINKS).document(index.get("device"))
    snap = ref.get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "unknown device code")
    return ref, snap


def device_request(user_code: str) -> DeviceLink:
    _, snap = _by_user_code(user_code)
    return _link(snap.to_dict())


def approve_device(*, user_code: str, account_id: str, key_label: str | None) -> DeviceLink:
    from google.cloud import firestore

    ref, snap = _by_user_code(user_code)
    link = _link(snap.to_dict())
    if link.status == "expired":
        raise AppError(ErrorKind.INVALID, "device code expired", {"code": "expired"})
    if link.status != "pending":
        raise AppError(ErrorKind.CONFLICT, "device link already approved")
    fields: dict[str, Any] = {"status": "approved", "account_id": account_id}
    if key_label:
        fields["key_label"] = key_label
    try:
        ref.update(fields, option=firestore.Client.write_option(last_update_time=snap.update_time))
    except CONFLICTS as exc:
        raise AppError(ErrorKind.CONFLICT, "device link already approved") from exc
    return _link({**snap.to_dict(), **fields})


def poll_device(*, device_code: str, network: str) -> tuple[DeviceLink, IssuedKey | None]:
    """The link's state; the API key comes with the first poll after approval, only (the
    mint is admitted before the link is consumed, so a refusal loses no key)."""
    from google.cloud import firestore

    ref = _device_ref(device_code)
    snap = ref.get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "unknown device code")
    link = _link(snap.to_dict())
    if link.status != "approved" or link.account_id is None:
        return link, None
    admit_key(account_id=link.account_id, network=network)
    try:
        ref.update(
            {"status": "consumed", "consumed_at": clock.now()},
            option=firestore.Client.write_option(last_update_time=snap.update_time),
        )
    except CONFLICTS:
        return DeviceLink(**{**link.__dict__, "status": "consumed"}), None
    issued = _mint(account=identity.get_account(link.account_id), label=link.key_label)
    return DeviceLink(**{**link.__dict__, "status": "consumed"}), issued

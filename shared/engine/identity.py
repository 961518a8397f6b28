"""Identity: accounts, API keys and Firebase ID tokens.

- One account per person (document id: a UUID derived from the lower-cased email, so an
  email can never own two accounts).
- An API key is `<prefix>_<random>`; only its SHA-256 is stored, as the document id. The
  prefix names the site that minted it, but an active key authenticates its account on
  every site, except a worker-bound key (`worker_id` set by grid worker registration): it
  sits on a volunteer's machine, so it serves the grid worker routes only and is FORBIDDEN
  everywhere else (no key minting, no payout address, no spending on any site). Revocation
  is a field on the key document, checked on every request, so it takes effect on the
  next one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.logs import bind as bind_log
from shared.engine.store import ACCOUNTS, API_KEYS, CONFLICTS, db

ACCOUNT_NAMESPACE = uuid.UUID("6f1c2a94-5d0e-4c1b-9a7e-2f3b8d4c5e60")
MAX_KEY_LENGTH = 256


class Site(StrEnum):
    MARKET = "market"
    PICS = "pics"
    GRID = "grid"
    MEDIA = "media"
    LIBRARY = "library"


KEY_PREFIXES = {
    Site.MARKET: "tk",
    Site.PICS: "uk",
    Site.GRID: "vk_live",
    Site.MEDIA: "kt",
    Site.LIBRARY: "mm",
}


class Role(StrEnum):
    CONSUMER = "consumer"
    DEVELOPER = "developer"
    ADMIN = "admin"
    WORKER = "worker"


class Account(BaseModel):
    id: str
    email: str
    display_name: str | None = None
    photo_url: str | None = None
    roles: list[Role]
    firebase_uids: list[str] = []
    created_at: dt.datetime
    last_login_at: dt.datetime | None = None

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


class ApiKey(BaseModel):
    key_hash: str
    account_id: str
    site: Site
    label: str = ""
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    worker_id: int | None = None  # set once the key is bound to a grid worker
    hint: str = ""  # the prefix and last four characters, to tell keys apart in lists

    @property
    def id(self) -> str:
        """A public handle for the key: a prefix of its hash (the hash is not a secret)."""
        return self.key_hash[:24]


def account_id_for_email(email: str) -> str:
    return str(uuid.uuid5(ACCOUNT_NAMESPACE, email.strip().lower()))


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_account(
    *, email: str, roles: list[Role] | None = None, display_name: str | None = None
) -> Account:
    """Create the account for `email`, or return it (adding any new roles) if it exists."""
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise AppError(ErrorKind.INVALID, "a valid email is required")
    wanted = sorted({Role.CONSUMER, *(roles or [])})
    ref = db().collection(ACCOUNTS).document(account_id_for_email(email))
    account = Account(
        id=ref.id, email=email, display_name=display_name, roles=wanted, created_at=clock.now()
    )
    try:
        ref.create(account.model_dump(mode="python", exclude={"id"}))
        return account
    except CONFLICTS:
        existing = get_account(ref.id)
        missing = [r for r in wanted if r not in existing.roles]
        if missing:
            from google.cloud import firestore

            ref.update({"roles": firestore.ArrayUnion([str(r) for r in missing])})
            existing = get_account(ref.id)
        return existing


def get_account(account_id: str) -> Account:
    snap = db().collection(ACCOUNTS).document(account_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "account not found")
    return Account(id=snap.id, **snap.to_dict())


def find_account_by_email(email: str) -> Account:
    return get_account(account_id_for_email(email))


def create_api_key(*, account_id: str, site: Site, label: str = "") -> str:
    """Mint a key; the plaintext is returned once and never stored."""
    raw = f"{KEY_PREFIXES[site]}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        key_hash=hash_key(raw),
        account_id=account_id,
        site=site,
        label=label,
        created_at=clock.now(),
        hint=f"{KEY_PREFIXES[site]}_...{raw[-4:]}",
    )
    db().collection(API_KEYS).document(record.key_hash).create(
        record.model_dump(mode="python", exclude={"key_hash"})
    )
    return raw


def revoke_api_key(*, key_hash: str, account_id: str) -> None:
    ref = db().collection(API_KEYS).document(key_hash)
    snap = ref.get()
    if not snap.exists or snap.get("account_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "key not found")
    ref.update({"revoked_at": clock.now()})


def list_api_keys(account_id: str) -> list[ApiKey]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db().collection(API_KEYS).where(filter=FieldFilter("account_id", "==", account_id))
    keys = [ApiKey(key_hash=snap.id, **snap.to_dict()) for snap in query.stream()]
    return sorted(keys, key=lambda k: k.created_at)


def find_api_key(*, account_id: str, key_id: str) -> ApiKey:
    """One of the account's keys by its public id."""
    if len(key_id) < 16:
        raise AppError(ErrorKind.NOT_FOUND, "key not found")
    for key in list_api_keys(account_id):
        if key.key_hash.startswith(key_id.lower()):
            return key
    raise AppError(ErrorKind.NOT_FOUND, "key not found")


def presented_key_hash(raw_key: str | None) -> str:
    """The hash a presented secret would be stored under, or UNAUTHENTICATED when it cannot
    be a key at all (missing or too long); says nothing of whether the key exists."""
    if not raw_key or len(raw_key) > MAX_KEY_LENGTH:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid or missing API key")
    return hash_key(raw_key)


def authenticate_key(raw_key: str | None, *, worker_route: bool = False) -> ApiKey:
    """The active key behind a presented secret, or UNAUTHENTICATED; a worker-bound key is
    FORBIDDEN unless the caller is a grid worker route (`worker_route=True`)."""
    key_hash = presented_key_hash(raw_key)
    snap = db().collection(API_KEYS).document(key_hash).get()
    if not snap.exists:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid or missing API key")
    record = ApiKey(key_hash=key_hash, **snap.to_dict())
    # Compare the stored hash in constant time as a matter of hygiene.
    if record.revoked_at is not None or not hmac.compare_digest(record.key_hash, key_hash):
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid or missing API key")
    bind_log(account_id=record.account_id)
    if record.worker_id is not None and not worker_route:
        raise AppError(
            ErrorKind.FORBIDDEN,
            "this key is bound to a grid worker and serves the worker routes only",
        )
    return record


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def verify_id_token(id_token: str, *, project: str | None = None) -> dict[str, Any]:
    """Verify a Firebase ID token of `project` (default: the settings' project) with
    firebase-admin; returns its claims."""
    from firebase_admin import auth

    from shared.engine.clients import firebase_app

    try:
        return auth.verify_id_token(id_token, app=firebase_app(project))
    except (
        ValueError,
        auth.InvalidIdTokenError,
        auth.ExpiredIdTokenError,
        auth.RevokedIdTokenError,
        auth.CertificateFetchError,
    ) as exc:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid ID token") from exc


def account_for_token(claims: dict[str, Any]) -> Account:
    """The account behind verified token claims (created on first sign-in). A known uid on
    an account that already has the token's roles costs one read; anything new is written
    (uid, admin role, last sign-in)."""
    email = claims.get("email")
    if not email:
        raise AppError(ErrorKind.UNAUTHENTICATED, "token has no email")
    roles = [Role.ADMIN] if claims.get("admin") else []
    try:
        known = get_account(account_id_for_email(email))
    except AppError:
        known = None
    if (
        known is not None
        and claims["uid"] in known.firebase_uids
        and all(r in known.roles for r in roles)
    ):
        return known
    account = create_account(email=email, roles=roles)
    from google.cloud import firestore

    db().collection(ACCOUNTS).document(account.id).update(
        {"firebase_uids": firestore.ArrayUnion([claims["uid"]]), "last_login_at": clock.now()}
    )
    return get_account(account.id)

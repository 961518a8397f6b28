"""Fixed-window request limits kept in Firestore.

Each window is one counter document bumped by an atomic increment whose result comes
back with the write, so counting needs no transaction and no read; a burst on one key
costs one blind write per request. Windows carry `expire_at` for a Firestore TTL policy.

Routes that cost us or a provider something are limited by one rule, `limit`: per client
network first (an IPv4 address or an IPv6 /64, see clientnet), then per account, so a request
refused for its network spends nothing of the account's allowance. The limits are the
POLICIES table, each entry overridable by the `rate_limits` setting.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import RATE_WINDOWS, db, increment, transform_value


@dataclass(frozen=True)
class Window:
    """One window as it stands after a request was counted (for X-RateLimit-* headers)."""

    limit: int
    remaining: int
    reset_epoch: int  # when the window ends, in Unix seconds
    retry_after: int  # seconds until then, at least 1


def _doc_safe(subject: str) -> str:
    """A subject as part of a document id (a network such as `2001:db8::/64` has a slash)."""
    return subject.replace("%", "%25").replace("/", "%2F")


def _count(subject: str, limits: list[tuple[int, int]]) -> list[Window]:
    now = clock.now()
    epoch = int(now.timestamp())
    batch = db().batch()
    starts = []
    for seconds, _ in limits:
        start = epoch - epoch % seconds
        ref = db().collection(RATE_WINDOWS).document(f"{_doc_safe(subject)}:{seconds}:{start}")
        batch.set(
            ref,
            {"count": increment(1), "expire_at": now + dt.timedelta(seconds=2 * seconds)},
            merge=True,
        )
        starts.append(start)
    results = batch.commit()
    return [
        Window(
            limit=limit,
            remaining=max(0, limit - transform_value(result)),
            reset_epoch=start + seconds,
            retry_after=max(1, start + seconds - epoch),
        )
        if transform_value(result) <= limit
        else Window(
            limit=limit,
            remaining=-1,
            reset_epoch=start + seconds,
            retry_after=max(1, start + seconds - epoch),
        )
        for result, start, (seconds, limit) in zip(results, starts, limits, strict=True)
    ]


def _exceeded(window: Window) -> AppError:
    return AppError(
        ErrorKind.RATE_LIMITED,
        "Rate limit exceeded",
        {"retry_after": window.retry_after, "rate_window": window},
    )


def hit(*, subject: str, limits: list[tuple[int, int]]) -> None:
    """Count one request for `subject` against each (window seconds, max requests)."""
    for window in _count(subject, limits):
        if window.remaining < 0:
            raise _exceeded(window)


def charge(*, subject: str, seconds: int, limit: int) -> Window:
    """Count one request for `subject` in one window and return the window (remaining 0 at
    the limit); past the limit, RATE_LIMITED whose details carry the window as
    `rate_window` (remaining 0), so the refusal can show the same headers."""
    (window,) = _count(subject, [(seconds, limit)])
    if window.remaining < 0:
        raise _exceeded(
            Window(
                limit=limit,
                remaining=0,
                reset_epoch=window.reset_epoch,
                retry_after=window.retry_after,
            )
        )
    return window


@dataclass(frozen=True)
class Rule:
    """At most `limit` requests per `seconds`."""

    limit: int
    seconds: int


# (per account, per client network); None: not counted that way.
POLICIES: dict[str, tuple[Rule | None, Rule | None]] = {
    # Stripe Checkout sessions and Coinbase charges: each one is a provider API call.
    "checkout": (Rule(20, 3600), Rule(60, 3600)),
    # x402 purchase attempts: each verified payment is a facilitator call.
    "x402": (Rule(30, 3600), Rule(60, 3600)),
    # API keys minted (an account also holds at most `max_active_keys` active ones).
    "key_mint": (Rule(10, 3600), Rule(30, 3600)),
    # Tarsify Stripe Connect onboarding links: each one is a Stripe API call.
    "stripe_connect": (Rule(10, 3600), Rule(30, 3600)),
    # Device links started (anonymous: per network only).
    "device_start": (None, Rule(20, 3600)),
}


def _rule(action: str, scope: str, default: Rule | None) -> Rule | None:
    raw = get_settings().rate_limits.get(f"{action}.{scope}")
    if raw is None:
        return default
    limit, _, seconds = raw.partition("/")
    return Rule(int(limit), int(seconds or 3600))


def limit(action: str, *, network: str, account_id: str | None = None) -> None:
    """Count one `action` for the client network, then for the account (when there is one);
    RATE_LIMITED (with retry_after) past either limit."""
    per_account, per_network = POLICIES[action]
    network_rule = _rule(action, "ip", per_network)
    if network_rule is not None:
        charge(
            subject=f"{action}:net:{network}",
            seconds=network_rule.seconds,
            limit=network_rule.limit,
        )
    account_rule = _rule(action, "account", per_account)
    if account_rule is not None and account_id is not None:
        charge(
            subject=f"{action}:acct:{account_id}",
            seconds=account_rule.seconds,
            limit=account_rule.limit,
        )

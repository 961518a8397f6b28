"""Firebase Hosting forwards only `__session`: the local gateway strips every other cookie
exactly so, and browser sign-in and affiliate attribution still work through it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from infra.local.gateway import SiteApp, glob_to_regex
from shared.engine import identity
from shared.media import affiliates, sessions
from tests.helpers import auth, mail_code, media_account, site_url


def _forwarded_cookie(header: str | None) -> str | None:
    """The Cookie header a function behind the gateway's site port receives."""
    seen: dict[str, Any] = {}

    def function(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        seen["cookie"] = environ.get("HTTP_COOKIE")
        start("200 OK", [])
        return [b""]

    app = SiteApp([(glob_to_regex("/api/**"), "f")], {"f": function})
    environ = {"PATH_INFO": "/api/x", **({"HTTP_COOKIE": header} if header else {})}
    list(app(environ, lambda *a: None))
    return seen["cookie"]


def test_gateway_forwards_only_the_session_cookie() -> None:
    assert _forwarded_cookie("kt_session=a; __session=b; kt_aff=c") == "__session=b"
    assert _forwarded_cookie("__session=b") == "__session=b"
    assert _forwarded_cookie("kt_session=a; library_session=z") is None
    assert _forwarded_cookie("x__session=a;__sessions=b") is None
    assert _forwarded_cookie(None) is None


def test_a_cookie_hosting_would_drop_never_reaches_the_function(stack: Any) -> None:
    account_id, _ = media_account()
    token, _ = sessions.create(account_id=account_id, method="email")
    api = f"{site_url(stack, 'media')}/api/v1"
    jar = sessions.encode_jar(sessions.Jar(session=token))
    # The value the site reads, but under any other name: stripped on the way in.
    for name in ("kt_session", "session", "__Session"):
        got = httpx.get(f"{api}/auth/browser/session", headers={"Cookie": f"{name}={jar}"})
        assert got.json()["authenticated"] is False
    got = httpx.get(f"{api}/auth/browser/session", headers={"Cookie": f"__session={jar}"})
    assert got.json()["authenticated"] is True
    # A jar that was not signed with the media key reads as empty.
    forged = jar[:-4] + ("AAAA" if not jar.endswith("AAAA") else "BBBB")
    got = httpx.get(f"{api}/auth/browser/session", headers={"Cookie": f"__session={forged}"})
    assert got.json()["authenticated"] is False


def test_browser_sign_in_and_attribution_end_to_end_through_hosting(stack: Any) -> None:
    media = site_url(stack, "media")
    api = f"{media}/api/v1"
    aff_email = f"aff-{uuid.uuid4().hex[:8]}@example.com"
    aff_id = identity.create_account(email=aff_email).id
    aff_key = identity.create_api_key(account_id=aff_id, site=identity.Site.MEDIA)
    applied = httpx.post(
        f"{api}/affiliates/me/apply",
        json={"displayName": "Aff", "contactEmail": aff_email},
        headers=auth(aff_key),
    )
    assert applied.status_code == 201, applied.text
    code = applied.json()["code"]
    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(timeout=60, headers={"Origin": media}) as browser:
        landing = browser.get(f"{api}/affiliates/r", params={"code": code})
        assert landing.status_code == 302
        assert set(browser.cookies.keys()) == {"__session"}
        browser.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
        verified = browser.post(
            f"{api}/auth/browser/email/verify",
            json={"email": email, "code": mail_code(stack, email)},
        )
        assert verified.status_code == 200, verified.text
        jar = sessions.decode_jar(browser.cookies["__session"])
        assert jar.session and affiliates.token_code(jar.attribution or "") == code
        session = browser.get(f"{api}/auth/browser/session").json()
        assert session["authenticated"] is True and session["account"]["email"] == email
        # The cookie alone signs the visitor in and attributes the binding.
        bound = browser.post(f"{api}/affiliates/me/bind-code", json={"code": code})
        assert bound.status_code == 201, bound.text
        assert bound.json()["code"] == code and bound.json()["created"] is True
        signed_out = browser.delete(f"{api}/auth/browser/session")
        assert signed_out.json()["revoked"] is True
        kept = sessions.decode_jar(browser.cookies["__session"])
        assert kept.session is None and kept.attribution == jar.attribution
        assert browser.get(f"{api}/balance").status_code == 401

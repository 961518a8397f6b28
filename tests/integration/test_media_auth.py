"""Killa Tamata sign-in and keys: email codes, browser sessions, Google, device links."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.engine import identity
from shared.media import signin
from tests.helpers import google_id_token, mail_code, media_account, media_api, site_url


def _email() -> str:
    return f"signin-{uuid.uuid4().hex[:12]}@example.com"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _code_doc(email: str):
    # Calls without X-Forwarded-For come from loopback: the code of that network.
    return signin.code_ref(email=email, network="127.0.0.1")


def test_email_code_signs_in_and_the_key_works_on_every_site(stack) -> None:
    api, email = media_api(stack), _email()
    started = httpx.post(f"{api}/auth/email/start", json={"email": email})
    assert started.status_code == 202, started.text
    code = mail_code(stack, email)
    # Hashed at rest: the record holds an HMAC, never the code.
    stored = _code_doc(email).get().to_dict()
    assert code not in str(stored) and set(stored) >= {"mac", "attempts", "expires_at"}
    verified = httpx.post(f"{api}/auth/email/verify", json={"email": email, "code": code})
    assert verified.status_code == 201, verified.text
    body = verified.json()
    assert body["apiKey"].startswith("kt_") and body["account"]["email"] == email
    assert (
        httpx.get(f"{api}/balance", headers=_auth(body["apiKey"])).json()["balanceUsdMicros"] == 0
    )
    # One key, every site.
    pics = httpx.get(f"{site_url(stack, 'pics')}/api/v1/users/me", headers=_auth(body["apiKey"]))
    assert pics.status_code == 200, pics.text
    # Spent: the same code cannot sign in twice.
    again = httpx.post(f"{api}/auth/email/verify", json={"email": email, "code": code})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_code"
    # Never logged in plain text either.
    # (As a value of its own: the same six digits may occur inside a timestamp's
    # microseconds or a hex id, which is no leak.)
    leaked = re.compile(rf"(?<![\w.:+-]){code}(?![\w+])")
    for log in stack.logs.glob("gateway*.log"):
        assert not leaked.search(log.read_text(errors="replace"))


def test_two_concurrent_correct_codes_sign_in_once(stack) -> None:
    api, email = media_api(stack), _email()
    httpx.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
    code = mail_code(stack, email)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: (
                    httpx.post(
                        f"{api}/auth/email/verify", json={"email": email, "code": code}, timeout=30
                    ).status_code
                ),
                range(4),
            )
        )
    assert sorted(results) == [201, 400, 400, 400]


def test_wrong_codes_are_limited_and_then_even_the_right_one_is_refused(stack) -> None:
    api, email = media_api(stack), _email()
    httpx.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
    code = mail_code(stack, email)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(signin.MAX_ATTEMPTS):
        response = httpx.post(f"{api}/auth/email/verify", json={"email": email, "code": wrong})
        assert response.status_code == 400
    locked = httpx.post(f"{api}/auth/email/verify", json={"email": email, "code": code})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_attempts"
    assert "Retry-After" in locked.headers


def test_an_expired_code_is_refused(stack) -> None:
    api, email = media_api(stack), _email()
    httpx.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
    code = mail_code(stack, email)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    _code_doc(email).update({"expires_at": past})
    response = httpx.post(f"{api}/auth/email/verify", json={"email": email, "code": code})
    assert response.status_code == 400 and response.json()["error"]["code"] == "code_expired"


def test_starting_is_rate_limited_per_email(stack) -> None:
    api, email = media_api(stack), _email()
    assert httpx.post(f"{api}/auth/email/start", json={"email": email}).status_code == 202
    second = httpx.post(f"{api}/auth/email/start", json={"email": email})
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1


def test_browser_session_cookie_lives_until_deleted(stack) -> None:
    api, email = media_api(stack), _email()
    httpx.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
    code = mail_code(stack, email)
    origin = {"Origin": site_url(stack, "media")}
    response = httpx.post(
        f"{api}/auth/browser/email/verify", json={"email": email, "code": code}, headers=origin
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert "__session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-HTTP loopback only; Secure everywhere else
    token = response.cookies["__session"]
    with httpx.Client(cookies={"__session": token}, headers=origin) as browser:
        session = browser.get(f"{api}/auth/browser/session").json()
        assert session["authenticated"] is True and session["account"]["email"] == email
        assert browser.get(f"{api}/balance").status_code == 200
        cleared = browser.delete(f"{api}/auth/browser/session")
        assert cleared.status_code == 200 and cleared.json()["revoked"] is True
    # The server-side record is revoked: the old cookie value no longer works anywhere.
    with httpx.Client(cookies={"__session": token}) as stale:
        assert stale.get(f"{api}/auth/browser/session").json()["authenticated"] is False
        assert stale.get(f"{api}/balance").status_code == 401


def test_google_id_token_mints_a_key_and_a_session(stack) -> None:
    api, email = media_api(stack), _email()
    token = google_id_token(stack, email)
    minted = httpx.post(f"{api}/auth/google", json={"idToken": token, "keyLabel": "laptop"})
    assert minted.status_code == 201, minted.text
    assert minted.json()["keyLabel"] == "laptop"
    assert minted.json()["account"]["id"] == identity.account_id_for_email(email)
    browser = httpx.post(
        f"{api}/auth/browser/google",
        json={"idToken": token},
        headers={"Origin": site_url(stack, "media")},
    )
    assert browser.status_code == 200 and "__session" in browser.cookies
    bootstrap = httpx.post(f"{api}/keys", json={"idToken": token, "label": "ci"})
    assert bootstrap.status_code == 201 and bootstrap.json()["key"]["label"] == "ci"
    bad = httpx.post(f"{api}/auth/google", json={"idToken": "x" * 40})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    unverified = google_id_token(stack, _email(), verified=False)
    assert httpx.post(f"{api}/auth/google", json={"idToken": unverified}).status_code == 401


def test_device_link_hands_the_key_over_once(stack) -> None:
    api = media_api(stack)
    _, key = media_account()
    started = httpx.post(f"{api}/device/link/start", json={"keyLabel": "cli"})
    assert started.status_code == 201, started.text
    link = started.json()
    device, user_code = link["deviceCode"], link["userCode"]
    assert link["status"] == "pending" and link["interval"] > 0
    assert (
        httpx.post(f"{api}/device/link/poll", json={"deviceCode": device}).json()["status"]
        == "pending"
    )
    pending = httpx.get(f"{api}/device/link/request", params={"userCode": user_code.lower()})
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    unauth = httpx.post(f"{api}/device/link/approve", json={"userCode": user_code})
    assert unauth.status_code == 401
    approved = httpx.post(
        f"{api}/device/link/approve", json={"userCode": user_code}, headers=_auth(key)
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    twice = httpx.post(
        f"{api}/device/link/approve", json={"userCode": user_code}, headers=_auth(key)
    )
    assert twice.status_code == 409
    with ThreadPoolExecutor(4) as pool:
        polls = list(
            pool.map(
                lambda _: httpx.post(
                    f"{api}/device/link/poll", json={"deviceCode": device}, timeout=30
                ).json(),
                range(4),
            )
        )
    keys = [p["apiKey"] for p in polls if "apiKey" in p]
    assert len(keys) == 1 and all(p["status"] == "consumed" for p in polls)
    assert httpx.get(f"{api}/balance", headers=_auth(keys[0])).status_code == 200
    unknown = httpx.post(f"{api}/device/link/poll", json={"deviceCode": "z" * 40})
    assert unknown.status_code == 404


def test_keys_list_create_and_revoke_everywhere(stack) -> None:
    api = media_api(stack)
    _, key = media_account()
    second = httpx.post(f"{api}/keys", json={"label": "second"}, headers=_auth(key))
    assert second.status_code == 201, second.text
    other = second.json()["apiKey"]
    listed = httpx.get(f"{api}/keys", headers=_auth(key)).json()["keys"]
    assert [k["label"] for k in listed][-1] == "second"
    assert all(other not in str(k) and k["hint"].endswith(other[-4:]) for k in listed[-1:])
    revoked = httpx.post(
        f"{api}/keys/revoke", json={"keyId": second.json()["key"]["id"]}, headers=_auth(key)
    )
    assert revoked.status_code == 200
    # Revoking the calling key itself (no body) works too.
    assert httpx.post(f"{api}/keys/revoke", headers=_auth(key)).status_code == 200
    for raw in (key, other):
        assert httpx.get(f"{api}/balance", headers=_auth(raw)).status_code == 401
        for site, path in (("pics", "/api/v1/users/me"), ("grid", "/api/v1/models")):
            response = httpx.get(f"{site_url(stack, site)}{path}", headers=_auth(raw))
            assert response.status_code == 401, (site, response.text)


def test_deprecated_credit_routes_answer_410_with_the_pointer(stack) -> None:
    api = media_api(stack)
    balance = httpx.get(f"{api}/credits/balance")
    assert balance.status_code == 410
    assert balance.json()["error"]["details"]["replacement"] == "GET /api/v1/balance"
    consume = httpx.post(f"{api}/credits/consume", json={"amount": 1})
    assert consume.status_code == 410
    assert consume.json()["error"]["details"]["replacement"] == "POST /api/v1/media/jobs"


def test_health_and_packages(stack) -> None:
    api = media_api(stack)
    health = httpx.get(f"{api}/health").json()
    assert health["status"] == "ok" and health["version"]["skill"]["compatibilityPolicy"] == "exact"
    packages = httpx.get(f"{api}/packages").json()["packages"]
    assert all(p["creditUsdMicros"] == p["priceUsdCents"] * 10_000 for p in packages)
    assert all(isinstance(p["priceUsdCents"], int) for p in packages)


def test_bad_input_is_a_400_in_the_envelope(stack) -> None:
    api = media_api(stack)
    _, key = media_account()
    cases = [
        ("POST", "/auth/email/start", {"email": "not-an-email"}),
        ("POST", "/auth/email/start", {"email": "a@example.com", "extra": 1}),
        ("POST", "/auth/email/verify", {"email": "a@example.com", "code": "12345"}),
        ("POST", "/auth/google", {"idToken": "short"}),
        ("POST", "/device/link/poll", {"deviceCode": "short"}),
        ("POST", "/device/link/approve", {"userCode": "abc"}),
        ("POST", "/keys", {"label": ""}),
        ("POST", "/keys/revoke", {"keyId": 5}),
        ("POST", "/checkout/stripe", {"packageCode": "nope"}),
        ("POST", "/checkout/stripe", {}),
        ("POST", "/checkout/crypto", {"packageCode": "starter_5", "redirectUrl": "not a url"}),
        ("POST", "/claim/stripe", {"sessionId": ""}),
        ("POST", "/claim/crypto", {"chargeId": 7}),
        ("POST", "/credits/purchase/x402", {"usdCents": 99}),
        ("POST", "/credits/purchase/x402", {"usdCents": "500"}),
        ("POST", "/deposit/x402", {"usdCents": 900_719_925_475}),
    ]
    for method, path, body in cases:
        response = httpx.request(method, f"{api}{path}", json=body, headers=_auth(key))
        assert response.status_code == 400, (path, body, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"], (path, error)
    malformed = httpx.post(
        f"{api}/auth/email/start",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert httpx.get(f"{api}/device/link/request").status_code == 400

"""Login CSRF: cookie-setting and cookie-authenticated writes take JSON from the site's own
origin only; a cross-site `text/plain` form post signs nobody in and sets no cookie."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from shared.media import sessions
from tests.helpers import mail_code, media_account, site_url

EVIL = "https://evil.example"


def _no_cookie(response: httpx.Response) -> None:
    assert "set-cookie" not in response.headers, response.headers.get("set-cookie")


def test_cross_site_text_plain_sign_in_is_refused_and_sets_no_session(stack: Any) -> None:
    media = site_url(stack, "media")
    api = f"{media}/api/v1"
    email = f"attacker-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(f"{api}/auth/email/start", json={"email": email}).raise_for_status()
    code = mail_code(stack, email)
    body = f'{{"email": "{email}", "code": "{code}"}}'
    plain = {"Content-Type": "text/plain"}
    attempts = [
        {**plain, "Origin": EVIL},  # the cross-site form
        {**plain, "Origin": media},  # right origin, form-able content type
        {"Content-Type": "application/json", "Origin": EVIL},
        {"Content-Type": "application/json"},  # no Origin at all
        {"Content-Type": "application/json", "Origin": "null"},
    ]
    for headers in attempts:
        refused = httpx.post(f"{api}/auth/browser/email/verify", content=body, headers=headers)
        assert refused.status_code in (400, 403), (headers, refused.text)
        assert "error" in refused.json()
        _no_cookie(refused)
    google = httpx.post(
        f"{api}/auth/browser/google",
        content='{"idToken": "x"}',
        headers={**plain, "Origin": EVIL},
    )
    assert google.status_code == 403 and google.json()["error"]["code"] == "forbidden"
    _no_cookie(google)
    # The refusals spent nothing: the same code still signs in from the site itself.
    ok = httpx.post(
        f"{api}/auth/browser/email/verify",
        json={"email": email, "code": code},
        headers={"Origin": media},
    )
    assert ok.status_code == 200, ok.text
    assert sessions.decode_jar(ok.cookies["__session"]).session


def test_cookie_authenticated_writes_need_own_origin_and_json(stack: Any) -> None:
    media = site_url(stack, "media")
    api = f"{media}/api/v1"
    account_id, _ = media_account()
    token, _ = sessions.create(account_id=account_id, method="email")
    cookie = {"Cookie": f"__session={sessions.encode_jar(sessions.Jar(session=token))}"}
    apply = {"displayName": "Victim", "contactEmail": "v@example.com"}
    evil = httpx.post(f"{api}/affiliates/me/apply", json=apply, headers={**cookie, "Origin": EVIL})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "forbidden"
    form = httpx.post(
        f"{api}/affiliates/me/apply",
        content="displayName=Victim",
        headers={**cookie, "Origin": media, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400
    sign_out = httpx.delete(f"{api}/auth/browser/session", headers={**cookie, "Origin": EVIL})
    assert sign_out.status_code == 403
    assert httpx.get(f"{api}/affiliates/me", headers=cookie).status_code == 404  # reads pass
    assert httpx.get(f"{api}/auth/browser/session", headers=cookie).json()["authenticated"]
    own = httpx.post(f"{api}/affiliates/me/apply", json=apply, headers={**cookie, "Origin": media})
    assert own.status_code == 201, own.text


def test_a_browser_session_uploads_files_from_its_own_origin_only(stack: Any) -> None:
    """Uploads are octet-stream (studio) and multipart (arcade) by the document: a session
    may send them from the site's own origin; a cross-site or origin-less one is refused and
    stores nothing."""
    from shared.media.studio import listing, workspace
    from tests.studio_helpers import png

    media = site_url(stack, "media")
    account_id, _ = media_account()
    project = workspace.create_project(account_id=account_id, title="Mine")
    token, _ = sessions.create(account_id=account_id, method="email")
    cookie = {"Cookie": f"__session={sessions.encode_jar(sessions.Jar(session=token))}"}
    url = f"{media}/api/v1/studio/assets/upload"
    params = {"projectId": project.id, "filename": "p.png"}
    octet = {**cookie, "Content-Type": "application/octet-stream"}
    for headers in ({**octet, "Origin": EVIL}, octet):
        r = httpx.post(url, params=params, content=png(), headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    assert listing.list_assets(account_id=account_id, project_id=project.id).total == 0
    own = httpx.post(url, params=params, content=png(), headers={**octet, "Origin": media})
    assert own.status_code == 201, own.text
    r = httpx.post(
        f"{media}/api/v1/arcade/releases/upload",
        data={"gameId": "nope", "manifestJson": "{}"},
        files={"bundle": ("game.zip", b"PK", "application/zip")},
        headers={**cookie, "Origin": media},
    )
    assert r.status_code != 403 and r.json()["error"]["code"] != "forbidden", r.text

"""Arcade launch sessions over HTTP: one session per idempotency key (even raced), signed
URLs that serve the release's exact bytes with the Godot headers and nothing once tampered
or expired, and telemetry events accepted only in order."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock
from shared.engine.store import db
from shared.media.arcade import launches
from tests.arcade_helpers import API, GODOT, arcade_account, published_game
from tests.helpers import auth, site_url


@pytest.fixture
def base(stack: Any) -> str:
    return site_url(stack, "media") + API


@pytest.fixture
def live(base: str) -> dict[str, Any]:
    owner_id, owner = arcade_account()
    _, admin = arcade_account(admin=True)
    game, release = published_game(base, owner, admin)
    return {"owner": owner, "owner_id": owner_id, "game": game, "release": release}


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def _launch(base: str, key: str, slug: str, idem: str, **extra: Any) -> httpx.Response:
    body = {"slug": slug, "idempotencyKey": idem, **extra}
    return httpx.post(f"{base}/launch-sessions", json=body, headers=auth(key))


def _event(base: str, key: str, sid: str, event: str, **extra: Any) -> httpx.Response:
    body = {"sessionId": sid, "event": event, **extra}
    return httpx.patch(f"{base}/launch-sessions", json=body, headers=auth(key))


def _sessions_for(account_id: str) -> int:
    query = (
        db().collection(launches.SESSIONS).where(filter=FieldFilter("account_id", "==", account_id))
    )
    return len(list(query.stream()))


def test_launch_is_idempotent_per_key_and_refuses_another_body(base: str, live: dict) -> None:
    player_id, player = arcade_account()
    slug, idem = live["game"]["slug"], uuid.uuid4().hex
    first = _launch(base, player, slug, idem)
    assert first.status_code == 201, first.text
    session = first.json()
    assert session["status"] == "created" and session["channel"] == "live"
    assert session["release"]["id"] == live["release"]["id"]
    expires = dt.datetime.fromisoformat(session["expiresAt"].replace("Z", "+00:00"))
    assert dt.timedelta(minutes=9) < expires - clock.now() <= dt.timedelta(minutes=10, seconds=5)
    assert session["entryUrl"].endswith("/index.html")
    assert sorted(f["path"] for f in session["files"]) == sorted(GODOT)
    again = _launch(base, player, slug, idem)
    assert again.status_code == 200 and again.json()["sessionId"] == session["sessionId"]
    _error(_launch(base, player, slug, idem, channel="dev"), 409, "conflict")
    assert _sessions_for(player_id) == 1


def test_five_concurrent_launches_with_one_key_make_one_session(base: str, live: dict) -> None:
    player_id, player = arcade_account()
    idem = uuid.uuid4().hex
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(lambda _: _launch(base, player, live["game"]["slug"], idem), range(5))
        )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 201]
    assert len({r.json()["sessionId"] for r in answers}) == 1
    assert _sessions_for(player_id) == 1


def test_session_urls_serve_the_release_bytes_with_godot_headers(base: str, live: dict) -> None:
    _, player = arcade_account()
    session = _launch(base, player, live["game"]["slug"], uuid.uuid4().hex).json()
    for item in session["files"]:
        r = httpx.get(item["url"])
        assert r.status_code == 200, (item, r.text)
        assert r.content == GODOT[item["path"]]
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert r.headers["Cache-Control"].startswith("private")
    wasm = next(f["url"] for f in session["files"] if f["path"] == "index.wasm")
    assert httpx.get(wasm).headers["Content-Type"] == "application/wasm"
    # The export's relative fetches resolve beside the entry, under the same token.
    assert (
        httpx.get(session["entryUrl"].rsplit("/", 1)[0] + "/index.pck").content
        == GODOT["index.pck"]
    )


def test_tampered_unknown_and_expired_urls_serve_nothing(base: str, live: dict) -> None:
    _, player = arcade_account()
    session = _launch(base, player, live["game"]["slug"], uuid.uuid4().hex).json()
    url = session["entryUrl"]
    head, token, name = url.rsplit("/", 2)
    tampered = f"{head}/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}/{name}"
    _error(httpx.get(tampered), 404, "not_found")
    _error(httpx.get(f"{head}/{token}/secret.js"), 404, "not_found")  # not a release file
    past = launches.play_token(session["sessionId"], clock.now() - dt.timedelta(seconds=1))
    _error(httpx.get(f"{head}/{past}/{name}"), 404, "not_found")
    assert httpx.get(url).status_code == 200
    # The session itself expiring closes even a token that has not.
    launches_ref = db().collection(launches.SESSIONS).document(session["sessionId"])
    launches_ref.update({"expires_at": clock.now() - dt.timedelta(seconds=1)})
    _error(httpx.get(url), 404, "not_found")
    _error(_event(base, player, session["sessionId"], "launched"), 410, "gone")


def test_telemetry_events_follow_their_order(base: str, live: dict) -> None:
    _, player = arcade_account()
    _, stranger = arcade_account()
    sid = _launch(base, player, live["game"]["slug"], uuid.uuid4().hex).json()["sessionId"]
    _error(_event(base, player, sid, "heartbeat"), 409, "conflict")
    _error(_event(base, stranger, sid, "launched"), 404, "not_found")
    _error(_event(base, player, sid, "launched", failureReason="x"), 400, "invalid_request")
    assert _event(base, player, sid, "launched").json()["status"] == "running"
    _error(_event(base, player, sid, "launched"), 409, "conflict")
    _error(_event(base, player, sid, "failed_bootstrap", failureReason="late"), 409, "conflict")
    assert _event(base, player, sid, "heartbeat").status_code == 200
    assert _event(base, player, sid, "heartbeat").status_code == 200
    ended = _event(base, player, sid, "end").json()
    assert ended["status"] == "ended"
    assert [e["event"] for e in ended["events"]] == ["launched", "heartbeat", "heartbeat", "end"]
    for event in ("heartbeat", "end", "launched"):
        _error(_event(base, player, sid, event), 409, "conflict")
    stored = db().collection(launches.SESSIONS).document(sid).get().to_dict()
    assert len(stored["events"]) == 4


def test_failed_bootstrap_needs_a_reason_and_ends_the_session(base: str, live: dict) -> None:
    _, player = arcade_account()
    sid = _launch(base, player, live["game"]["slug"], uuid.uuid4().hex).json()["sessionId"]
    _error(_event(base, player, sid, "failed_bootstrap"), 400, "invalid_request")
    r = _event(base, player, sid, "failed_bootstrap", failureReason="no WebGL2")
    assert r.json()["status"] == "failed"
    assert r.json()["events"][0]["failureReason"] == "no WebGL2"
    _error(_event(base, player, sid, "launched"), 409, "conflict")
    _error(_event(base, player, "no-such-session", "launched"), 404, "not_found")
    _error(_event(base, player, sid, "crashed"), 400, "invalid_request")


def test_launch_refuses_what_the_caller_cannot_see_and_bad_bodies(base: str, live: dict) -> None:
    player_id, player = arcade_account()
    slug = live["game"]["slug"]
    _error(_launch(base, player, slug, uuid.uuid4().hex, channel="dev"), 404, "not_found")
    _error(_launch(base, player, "no-such-game", uuid.uuid4().hex), 404, "not_found")
    _error(_launch(base, player, slug, uuid.uuid4().hex, channel="prod"), 400, "invalid_request")
    _error(_launch(base, player, slug, uuid.uuid4().hex, extra=1), 400, "invalid_request")
    _error(_launch(base, player, slug, ""), 400, "invalid_request")
    assert _sessions_for(player_id) == 0

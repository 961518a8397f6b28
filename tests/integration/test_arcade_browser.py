"""A real headless Chromium opens a launched arcade release through the media site: the page
is cross-origin isolated (COOP/COEP), compiles the served index.wasm, fetches index.pck, and
reports `launched` to the API, which the session then records."""

from __future__ import annotations

import hashlib
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.engine.store import db
from shared.media.arcade import launches
from tests.arcade_helpers import API, arcade_account, published_game
from tests.helpers import auth, site_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (infra/local/install-system.sh)"
)

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Tiny Godot</title></head>
<body><canvas id="canvas"></canvas><script src="index.js"></script></body></html>
"""

SCRIPT = b"""
(async () => {
  const params = new URLSearchParams(location.hash.slice(1));
  const report = (state) => { window.__arcade = state; document.title = state; };
  try {
    if (self.crossOriginIsolated !== true) throw new Error('not cross-origin isolated');
    const wasm = await fetch('index.wasm');
    await WebAssembly.compile(await wasm.arrayBuffer());
    const pck = await fetch('index.pck');
    if (!pck.ok || (await pck.arrayBuffer()).byteLength < 4) throw new Error('no pck');
    const answer = await fetch('/api/v1/arcade/launch-sessions', {
      method: 'PATCH',
      headers: {Authorization: 'Bearer ' + params.get('key'), 'Content-Type': 'application/json'},
      body: JSON.stringify({sessionId: params.get('session'), event: 'launched'}),
    });
    report(answer.ok ? 'launched' : 'report failed ' + answer.status);
  } catch (error) {
    report('error: ' + error.message);
  }
})();
"""

GAME = {
    "index.html": PAGE,
    "index.js": SCRIPT,
    "index.wasm": b"\x00asm\x01\x00\x00\x00",
    "index.pck": b"GDPC" + bytes(60),
}


def test_chromium_opens_a_launched_release_and_reports_launched(stack: Any) -> None:
    from playwright.sync_api import sync_playwright

    base = site_url(stack, "media") + API
    _, owner = arcade_account()
    _, admin = arcade_account(admin=True)
    game, _ = published_game(base, owner, admin, files=GAME)
    _, player = arcade_account()
    r = httpx.post(
        f"{base}/launch-sessions",
        json={"slug": game["slug"], "idempotencyKey": uuid.uuid4().hex},
        headers=auth(player),
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["entryUrl"].startswith(site_url(stack, "media") + "/arcade/play/")
    fragment = urllib.parse.urlencode({"key": player, "session": session["sessionId"]})
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{session['entryUrl']}#{fragment}")
            page.wait_for_function("window.__arcade !== undefined", timeout=20_000)
            state = page.evaluate("window.__arcade")
        finally:
            browser.close()
    assert state == "launched", state
    stored = db().collection(launches.SESSIONS).document(session["sessionId"]).get().to_dict()
    assert [e["event"] for e in stored["events"]] == ["launched"]
    assert stored["state"] == "running"
    assert hashlib.sha256(GAME["index.wasm"]).hexdigest() in {f["sha256"] for f in stored["files"]}

"""The library's web UI in a real headless Chromium (Debian's, driven by playwright), plus
the UI routes' HTTP contract: sign-in cookie, redirects, static files, /files pictures only,
and the session cookie reading /api/v1 but never writing through it.

Data: two model records written straight through models_store.put_scanned under this
module's own category (a uuid), a hero thumbnail and a model file in the library bucket.
Screenshots of each browser step land in tests/artifacts/library_ui/.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.engine import clock
from shared.library import keys, models_store, storage, thumbs
from shared.library.records import models_root
from tests.helpers import auth, site_url

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "library_ui"
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
XSS_NAME = "<img src=x onerror=window.__xss=1> Beta"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (infra/local/install-system.sh)"
)


def _png(color: tuple[int, int, int], size: int = 64) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


def _scan(name: str, *, category: str, kind: str, base: str, hero: dict | None) -> dict:
    file_name = name.split()[-1].lower() + ".safetensors"
    return {
        "name": name,
        "type": kind,
        "description": "<script>window.__xss=2</script><p>Hello <b>world</b></p>",
        "fileSize": 4096,
        "category": category,
        "subcategory": "sub",
        "baseModel": base,
        "nsfwLevel": 1,
        "creatorName": "tester",
        "creatorAvatar": None,
        "tags": ["style", "ui-test"],
        "stats": {"downloadCount": 7, "thumbsUpCount": 3},
        "trainedWords": ["alphaword"],
        "licensingInfo": {},
        "hasMetadata": True,
        "heroImage": hero,
        "versions": [
            {
                "id": 1,
                "name": "v1.0",
                "baseModel": base,
                "description": None,
                "stats": {},
                "publishedAt": None,
                "trainedWords": ["alphaword"],
                "isLocal": True,
                "files": [
                    {
                        "id": 1,
                        "fileName": file_name,
                        "sizeKb": 4,
                        "format": "SafeTensor",
                        "precision": "fp16",
                    }
                ],
                "images": [],
            }
        ],
        "format": "SafeTensor",
        "precision": "fp16",
        "headerMetadata": None,
        "fingerprint": uuid.uuid4().hex,
    }


@pytest.fixture(scope="module")
def library(stack: Any) -> dict[str, Any]:
    category = f"ui-{uuid.uuid4().hex[:10]}"
    bucket = storage.bucket()
    picture = thumbs.inspect(_png((200, 40, 90)))
    thumb = f"{storage.THUMBS}/{category}-hero.webp"
    bucket.blob(thumb).upload_from_string(picture.thumb_webp, content_type="image/webp")
    hero = {
        "id": 1,
        "thumbPath": f"/files/{thumb}",
        "width": picture.width,
        "height": picture.height,
        "nsfwLevel": 1,
        "blurhash": picture.blurhash,
    }
    model_bytes = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 15
    alpha_path = f"{category}/sub/alpha.safetensors"
    bucket.blob(f"{models_root()}/{alpha_path}").upload_from_string(model_bytes)
    alpha = models_store.put_scanned(
        path=alpha_path,
        scan=_scan("Style Alpha", category=category, kind="LORA", base="SDXL 1.0", hero=hero),
        added_at=clock.now(),
    )
    beta = models_store.put_scanned(
        path=f"{category}/sub/beta.safetensors",
        scan=_scan(XSS_NAME, category=category, kind="Checkpoint", base="SD 1.5", hero=None),
        added_at=clock.now(),
    )
    return {
        "base": site_url(stack, "library"),
        "key": keys.show(),
        "category": category,
        "thumb": thumb,
        "alpha": alpha,
        "beta": beta,
        "alpha_path": alpha_path,
        "model_bytes": model_bytes,
    }


def _session(library: dict[str, Any]) -> dict[str, str]:
    response = httpx.post(f"{library['base']}/session", json={"key": library["key"]})
    assert response.status_code == 200, response.text
    return {"Cookie": f"__session={response.cookies['__session']}"}


# --- HTTP contract of the UI routes ------------------------------------------------------


def test_pages_redirect_to_signin_until_a_session_exists(library):
    base = library["base"]
    response = httpx.get(f"{base}/?category=x")
    assert response.status_code == 303
    assert response.headers["Location"] == "/signin?next=%2F%3Fcategory%3Dx"
    assert httpx.get(f"{base}/models/{library['alpha']}").status_code == 303
    assert httpx.get(f"{base}/models/not-an-id").json() == {"error": "Invalid model ID"}
    signin = httpx.get(f"{base}/signin")
    assert signin.status_code == 200 and "text/html" in signin.headers["Content-Type"]
    page = httpx.get(f"{base}/", headers=_session(library))
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_sign_in_sets_a_strict_httponly_cookie_and_refuses_bad_keys(library):
    base = library["base"]
    response = httpx.post(f"{base}/session", json={"key": library["key"]})
    cookie = response.headers["Set-Cookie"]
    for part in ("__session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
        assert part in cookie
    assert "Secure" not in cookie
    behind_https = httpx.post(
        f"{base}/session", json={"key": library["key"]}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in behind_https.headers["Set-Cookie"]

    wrong = httpx.post(f"{base}/session", json={"key": "0" * 64})
    assert wrong.status_code == 401 and "error" in wrong.json()
    assert "Set-Cookie" not in wrong.headers
    form = httpx.post(f"{base}/session", data={"key": "nope"})
    assert (form.status_code, form.headers["Location"]) == (303, "/signin?failed=1")
    cross_site = httpx.post(
        f"{base}/session", json={"key": library["key"]}, headers={"Origin": "https://evil.test"}
    )
    assert cross_site.status_code == 403 and "Set-Cookie" not in cross_site.headers
    signed_in_form = httpx.post(f"{base}/session", data={"key": library["key"], "next": "//x"})
    assert (signed_in_form.status_code, signed_in_form.headers["Location"]) == (303, "/")


def test_sign_out_ends_the_session(library):
    cookie = _session(library)
    base = library["base"]
    assert httpx.get(f"{base}/", headers=cookie).status_code == 200
    form = {**cookie, "Content-Type": "application/x-www-form-urlencoded"}
    out = httpx.post(f"{base}/session/logout", headers=form, content=b"")
    assert out.status_code == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert httpx.get(f"{base}/", headers=cookie).status_code == 303


def test_session_cookie_reads_the_api_but_cannot_regenerate_the_key(library):
    base, cookie = library["base"], _session(library)
    listed = httpx.get(f"{base}/api/v1/models?category={library['category']}", headers=cookie)
    assert listed.status_code == 200, listed.text
    assert {m["id"] for m in listed.json()["items"]} == {library["alpha"], library["beta"]}
    regenerate = httpx.post(f"{base}/api/v1/auth/regenerate", headers=cookie)
    assert regenerate.status_code == 401
    assert keys.check(library["key"]) >= 0  # the key still works


def test_files_serves_library_pictures_and_never_model_files(library):
    base, cookie = library["base"], _session(library)
    thumb = httpx.get(f"{base}/files/{library['thumb']}", headers=cookie)
    assert thumb.status_code == 200
    assert thumb.headers["Content-Type"] == "image/webp"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert thumb.content[:4] == b"RIFF"
    assert int(thumb.headers["Content-Length"]) == len(thumb.content)
    stored = storage.bucket().blob(library["thumb"]).download_as_bytes()
    assert thumb.content == stored  # streamed whole, byte for byte
    unchanged = httpx.get(
        f"{base}/files/{library['thumb']}",
        headers=cookie | {"If-None-Match": thumb.headers["ETag"]},
    )
    assert unchanged.status_code == 304 and not unchanged.content
    model_file = f"{base}/files/{models_root()}/{library['alpha_path']}"
    assert httpx.get(model_file, headers=cookie).status_code == 403
    traversal = f"{base}/files/thumbs/%2e%2e/{models_root()}/{library['alpha_path']}.png"
    refused = httpx.get(traversal, headers=cookie)
    assert refused.status_code == 403 and "error" in refused.json()
    assert httpx.get(f"{base}/files/thumbs/missing-{uuid.uuid4()}.webp", headers=cookie).json() == {
        "error": "File not found"
    }
    assert httpx.get(f"{base}/files/{library['thumb']}").status_code == 401
    assert httpx.get(f"{base}/files/{library['thumb']}", headers=auth(library["key"])).is_success


def test_static_files_have_types_and_revalidate(library):
    base = library["base"]
    script = httpx.get(f"{base}/assets/app.js")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    again = httpx.get(f"{base}/assets/app.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status_code == 304
    assert httpx.get(f"{base}/assets/app.css").headers["Content-Type"].startswith("text/css")
    for name in ("browse.html", "nope.js", "%2e%2e%2fui.py"):
        assert httpx.get(f"{base}/assets/{name}").status_code == 404


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(library: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        yield context.pages[0] if context.pages else context.new_page()
        context.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _card_ids(page: Any) -> set[int]:
    return {
        int(x) for x in page.locator("a.card").evaluate_all("c => c.map(e => e.dataset.modelId)")
    }


def test_browser_signs_in_browses_filters_edits_notes_and_uploads(library, page):
    from playwright.sync_api import expect

    base, category = library["base"], library["category"]
    page.goto(f"{base}/?category={category}")
    expect(page).to_have_url(f"{base}/signin?next=%2F%3Fcategory%3D{category}")
    page.fill("#key", library["key"])
    _shot(page, "01-signin")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/?category={category}")
    expect(page.locator("a.card")).to_have_count(2)
    assert _card_ids(page) == {library["alpha"], library["beta"]}
    # Names from files are text, never markup.
    expect(page.locator("a.card .card-name", has_text=XSS_NAME)).to_have_count(1)
    assert page.evaluate("window.__xss") is None
    hero = page.locator(f'a.card[data-model-id="{library["alpha"]}"] img')
    expect(hero).to_have_attribute("src", f"/files/{library['thumb']}")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=hero.element_handle())
    # The placeholder is the hero's blurhash decoded: a solid picture's colour, near enough.
    placeholder = page.locator(f'a.card[data-model-id="{library["alpha"]}"] canvas')
    rgb = placeholder.evaluate("c => [...c.getContext('2d').getImageData(16, 16, 1, 1).data]")
    assert all(abs(a - b) <= 12 for a, b in zip(rgb[:3], (200, 40, 90), strict=True)), rgb
    _shot(page, "02-browse")

    page.fill("#filters input[name=type]", "lora")
    page.click("#apply")
    expect(page).to_have_url(f"{base}/?category={category}&type=lora")
    expect(page.locator("a.card")).to_have_count(1)
    assert _card_ids(page) == {library["alpha"]}
    expect(page.locator("#filters input[name=category]")).to_have_value(category)
    _shot(page, "03-filtered")

    page.click(f'a.card[data-model-id="{library["alpha"]}"]')
    expect(page).to_have_url(f"{base}/models/{library['alpha']}")
    expect(page.locator("#name")).to_have_text("Style Alpha")
    expect(page.locator("#description")).to_have_text("Hello world")
    expect(page.locator("table.files td", has_text="alpha.safetensors")).to_have_count(1)
    expect(page.locator("#trained")).to_contain_text("alphaword")
    download = page.locator("#download")
    expect(download).to_have_attribute("href", f"/api/v1/models/{library['alpha']}/download")
    fetched = page.request.get(f"{base}/api/v1/models/{library['alpha']}/download")
    assert fetched.status == 200 and fetched.body() == library["model_bytes"]
    _shot(page, "04-model")

    notes = "Use at 0.8 <b>not bold</b> — ünïcode"
    page.fill("#notes", notes)
    page.click("#save-notes")
    expect(page.locator("#notes-status")).to_have_text("Saved")
    detail = httpx.get(f"{base}/api/v1/models/{library['alpha']}", headers=auth(library["key"]))
    assert detail.json()["notes"] == notes
    page.reload()
    expect(page.locator("#notes")).to_have_value(notes)
    _shot(page, "05-notes")

    page.set_input_files(
        "#upload-file",
        files=[{"name": "mine.png", "mimeType": "image/png", "buffer": _png((20, 160, 60))}],
    )
    page.fill("#upload-prompt", "a green square")
    page.click("#upload")
    expect(page.locator("#upload-status")).to_have_text("Uploaded")
    tile = page.locator("#user-images figure")
    expect(tile).to_have_count(1)
    expect(tile.locator("figcaption")).to_have_text("a green square")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=tile.locator("img").element_handle()
    )
    images = httpx.get(
        f"{base}/api/models/{library['alpha']}/images", headers=auth(library["key"])
    ).json()
    assert [(i["prompt"], i["width"]) for i in images] == [("a green square", 64)]
    page.reload()
    expect(page.locator("#user-images figure")).to_have_count(1)
    _shot(page, "06-uploaded")

    page.goto(f"{base}/models/{library['beta']}")
    expect(page.locator("#name")).to_have_text(XSS_NAME)
    assert page.evaluate("window.__xss") is None
    _shot(page, "07-escaped")

"""Tarsify studio auth (/api/studio/auth/*) and the studio's base-model list, end to end."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.engine import identity, ledger
from shared.engine.store import db
from shared.market import records
from tests.market_helpers import (
    IMAGE_SCHEMA,
    Client,
    api_key_for,
    data,
    error_code,
    id_token,
    market_api,
    seed_base_model,
)

REGISTER = "/api/studio/auth/register"
ME = "/api/studio/auth/me"
PROFILE = "/api/studio/auth/profile"
COMPLETE = "/api/studio/auth/complete-profile"


def _developer(stack) -> tuple[Client, str]:
    email, token = id_token()
    return Client(market_api(stack), token), email


def _registered(stack) -> tuple[Client, str]:
    client, email = _developer(stack)
    data(client.post(REGISTER, json={"email": email, "displayName": "Ada"}), 201)
    return client, email


def test_register_creates_the_profile_once_and_a_second_register_is_1005(stack) -> None:
    client, email = _developer(stack)
    created = data(client.post(REGISTER, json={"email": email.upper(), "displayName": "Ada"}), 201)
    account_id = identity.account_id_for_email(email)
    assert created["id"] == account_id and created["email"] == email
    assert created["firebaseUid"] and created["displayName"] == "Ada"
    assert created["avatarUrl"] is None and created["bio"] is None
    assert created["stripeAccountId"] is None
    assert created["verified"] is False and created["profileComplete"] is False
    assert created["createdAt"].endswith("Z") and created["updatedAt"] == created["createdAt"]
    again = client.post(REGISTER, json={"email": email, "displayName": "Other"})
    assert again.status_code == 409 and error_code(again) == "ERR_1005"
    stored = db().collection(records.DEVELOPERS).document(account_id).get().to_dict()
    assert stored["display_name"] == "Ada"


def test_racing_registrations_give_exactly_one_201(stack) -> None:
    client, email = _developer(stack)
    payload = {"email": email, "displayName": "Racer"}
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.post(REGISTER, json=payload), range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    assert {error_code(r) for r in responses if r.status_code == 409} == {"ERR_1005"}


def test_register_refuses_another_email_and_bad_names(stack) -> None:
    client, email = _developer(stack)
    other = client.post(REGISTER, json={"email": "someone@else.com", "displayName": "Ada"})
    assert other.status_code == 400 and error_code(other) == "ERR_2001"
    missing = client.post(REGISTER, json={"email": email})
    assert missing.status_code == 400 and error_code(missing) == "ERR_2004"
    long_name = client.post(REGISTER, json={"email": email, "displayName": "x" * 101})
    assert error_code(long_name) == "ERR_2001"
    unknown = client.post(REGISTER, json={"email": email, "displayName": "A", "admin": True})
    assert error_code(unknown) == "ERR_2001"
    account_id = identity.account_id_for_email(email)
    assert not db().collection(records.DEVELOPERS).document(account_id).get().exists


def test_api_key_caller_registers_without_a_firebase_uid(stack) -> None:
    email = f"key-dev-{uuid.uuid4().hex[:10]}@example.com"
    client = Client(market_api(stack), api_key_for(email))
    created = data(client.post(REGISTER, json={"email": email, "displayName": "Keyed"}), 201)
    assert created["firebaseUid"] is None and created["email"] == email


def test_me_before_register_is_1004_and_after_shows_the_figures(stack) -> None:
    client, email = _developer(stack)
    before = client.get(ME)
    assert before.status_code == 404 and error_code(before) == "ERR_1004"
    data(client.post(REGISTER, json={"email": email, "displayName": "Ada"}), 201)
    account_id = identity.account_id_for_email(email)
    earnings = ledger.earnings_account(account_id)
    # 1.5 and 2 credits of creator earnings; an earning from elsewhere does not count.
    for ref, micros, memo in (
        (uuid.uuid4().hex, 15_000, "market:tm-1"),
        (uuid.uuid4().hex, 20_000, "market:tm-2"),
        (uuid.uuid4().hex, 990_000, "grid:worker"),
    ):
        assert ledger.credit(
            account_id=earnings, kind=ledger.EntryKind.EARNING, ref=ref, micros=micros, memo=memo
        )
    for status, amount in (("pending", 7), ("processing", 5), ("completed", 100), ("failed", 9)):
        db().collection(records.PAYOUTS).document(str(uuid.uuid4())).set(
            {"account_id": account_id, "amount_credits": amount, "status": status}
        )
    for developer_id in (account_id, account_id, "someone-else"):
        db().collection(records.NOTEBOOKS).document(str(uuid.uuid4())).set(
            {"developer_id": developer_id}
        )
    me = data(client.get(ME))
    assert me["id"] == account_id and me["email"] == email
    assert me["totalEarnings"] == 3  # 35,000 micros, whole credits
    assert me["pendingPayout"] == 12
    assert me["notebookCount"] == 2
    assert list(me)[-2:] == ["createdAt", "updatedAt"]


def test_profile_updates_validate_and_need_registration(stack) -> None:
    client, email = _developer(stack)
    unregistered = client.put(PROFILE, json={"bio": "hi"})
    assert unregistered.status_code == 404 and error_code(unregistered) == "ERR_1004"
    data(client.post(REGISTER, json={"email": email, "displayName": "Ada"}), 201)
    for bad in (
        {"bio": "x" * 2001},
        {"avatarUrl": "javascript:alert(1)"},
        {"avatarUrl": "https://example.com/" + "a" * 2048},
        {"displayName": ""},
        {"displayName": None},
        {"email": "new@example.com"},
    ):
        response = client.put(PROFILE, json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad


def test_profile_update_changes_only_the_given_fields(stack) -> None:
    # Auth routes allow 10 requests a minute per account: a separate developer.
    client, _ = _registered(stack)
    updated = data(
        client.put(
            PROFILE,
            json={"displayName": "Ada L.", "bio": "ML dev", "avatarUrl": "https://x.io/a.png"},
        )
    )
    assert set(updated) == {"id", "displayName", "bio", "avatarUrl", "profileComplete", "updatedAt"}
    assert (updated["displayName"], updated["bio"], updated["avatarUrl"]) == (
        "Ada L.",
        "ML dev",
        "https://x.io/a.png",
    )
    cleared = data(client.put(PROFILE, json={"bio": None}))
    assert cleared["bio"] is None and cleared["displayName"] == "Ada L."
    me = data(client.get(ME))
    assert me["avatarUrl"] == "https://x.io/a.png" and me["profileComplete"] is False


def test_complete_profile_marks_the_profile_complete(stack) -> None:
    client, email = _developer(stack)
    payload = {"displayName": "Ada", "payoutEmail": "pay@example.com", "country": "US"}
    assert error_code(client.post(COMPLETE, json=payload)) == "ERR_1004"
    data(client.post(REGISTER, json={"email": email, "displayName": "Ada"}), 201)
    missing = client.post(COMPLETE, json={"displayName": "Ada", "country": "US"})
    assert missing.status_code == 400 and error_code(missing) == "ERR_2004"
    for bad in ({"country": "us"}, {"country": "USA"}, {"payoutEmail": "not-an-email"}):
        response = client.post(COMPLETE, json={**payload, **bad})
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    assert data(client.get(ME))["profileComplete"] is False
    done = data(client.post(COMPLETE, json={**payload, "bio": "Hello"}))
    assert set(done) == {"id", "profileComplete", "updatedAt"} and done["profileComplete"] is True
    stored = (
        db()
        .collection(records.DEVELOPERS)
        .document(identity.account_id_for_email(email))
        .get()
        .to_dict()
    )
    assert (stored["payout_email"], stored["country"], stored["bio"]) == (
        "pay@example.com",
        "US",
        "Hello",
    )


def test_auth_routes_need_a_valid_developer_credential(stack) -> None:
    api = market_api(stack)
    missing = Client(api).get(ME)
    assert missing.status_code == 401 and error_code(missing) == "ERR_1001"
    garbage = Client(api, "eyJhbGciOi.garbage.token").get(ME)
    assert garbage.status_code == 401 and error_code(garbage) == "ERR_1002"
    bad_key = Client(api, "mk_not_a_real_key").get(ME)
    assert bad_key.status_code == 401 and error_code(bad_key) == "ERR_1002"
    for response in (missing, garbage, bad_key):
        for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert int(response.headers[header]) >= 0, header


def test_the_eleventh_auth_request_in_a_minute_is_429(stack) -> None:
    client, _ = _developer(stack)
    limits = []
    for _ in range(10):
        response = client.get(ME)
        assert response.status_code == 404, response.text
        limits.append(int(response.headers["X-RateLimit-Remaining"]))
        assert response.headers["X-RateLimit-Limit"] == "10"
    assert limits == list(range(9, -1, -1))
    limited = client.get(ME)
    assert limited.status_code == 429 and error_code(limited) == "ERR_4290"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_studio_base_models_lists_active_ones_by_category(stack) -> None:
    unregistered, _ = _developer(stack)
    assert error_code(unregistered.get("/api/studio/base-models")) == "ERR_1004"
    client, _ = _registered(stack)
    _, image = seed_base_model(price_credits=7, max_price_credits=70)
    _, inactive = seed_base_model(model_active=False)
    _, audio = seed_base_model(category=records.Category.AUDIO)
    listed = data(client.get("/api/studio/base-models"))
    ids = {m["id"] for m in listed}
    assert {image, audio} <= ids and inactive not in ids
    shown = next(m for m in listed if m["id"] == image)
    assert set(shown) == {
        "id",
        "slug",
        "name",
        "description",
        "category",
        "outputType",
        "outputFormat",
        "inputSchema",
        "estimatedSeconds",
        "priceCredits",
        "maxPriceCredits",
    }
    assert shown["inputSchema"] == IMAGE_SCHEMA and shown["category"] == "IMAGE"
    assert (shown["priceCredits"], shown["maxPriceCredits"]) == (7, 70)
    audio_only = data(client.get("/api/studio/base-models?category=AUDIO"))
    assert audio in {m["id"] for m in audio_only}
    assert {m["category"] for m in audio_only} == {"AUDIO"}
    bad = client.get("/api/studio/base-models?category=SMELL")
    assert bad.status_code == 400 and error_code(bad) == "ERR_2002"

"""Firebase ID tokens minted by the Auth emulator, for `relay token` and the tests.

The account's Auth user is created (or given a fresh password) through firebase-admin, its
`admin` custom claim set, and the user signed in with the emulator's password endpoint,
exactly as a web client signs in; the returned ID token is what Firebase would issue.
Emulator only: against real Firebase this would need a real API key and client.
"""

from __future__ import annotations

import secrets

from shared.engine.clients import firebase_app, http_client
from shared.engine.settings import get_settings


def emulator_id_token(email: str, *, admin: bool = False, project: str | None = None) -> str:
    from firebase_admin import auth

    settings = get_settings()
    if not settings.auth_emulator_host:
        raise RuntimeError("ID tokens are minted by the Auth emulator only")
    project = project or settings.project_id
    fb = firebase_app(project)
    password = secrets.token_urlsafe(16)
    try:
        user = auth.get_user_by_email(email, app=fb)
        auth.update_user(user.uid, password=password, app=fb)
    except auth.UserNotFoundError:
        user = auth.create_user(email=email, password=password, email_verified=True, app=fb)
    auth.set_custom_user_claims(user.uid, {"admin": admin}, app=fb)
    # The emulator keeps one user store per project; its API key is unchecked.
    scope = "" if project == settings.project_id else f"projects/{project}/"
    url = (
        f"http://{settings.auth_emulator_host}/identitytoolkit.googleapis.com/v1/"
        f"{scope}accounts:signInWithPassword?key=local"
    )
    response = http_client().post(
        url, json={"email": email, "password": password, "returnSecureToken": True}
    )
    if response.status_code != 200:
        raise RuntimeError(f"sign-in failed: {response.text[:200]}")
    return str(response.json()["idToken"])

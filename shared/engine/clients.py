"""Lazy, once-per-process accessors for the Google clients.

Nothing here runs at import time (cold start is a feature). The same code talks to the
emulators and to production: the Google libraries pick the emulator up from
FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST / FIREBASE_AUTH_EMULATOR_HOST, and the
Tasks client is given a plain gRPC channel when an emulator host is configured.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from shared.engine.settings import get_settings

_lock = threading.Lock()


@functools.cache
def firestore_client() -> Any:
    from google.cloud import firestore

    return firestore.Client(project=get_settings().project_id)


@functools.cache
def storage_client() -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    settings = get_settings()
    if settings.storage_emulator_host:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=settings.project_id, credentials=AnonymousCredentials())
    return storage.Client(project=settings.project_id)


@functools.cache
def tasks_client() -> Any:
    from google.cloud import tasks_v2

    settings = get_settings()
    if settings.tasks_emulator_host:
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(settings.tasks_emulator_host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    return tasks_v2.CloudTasksClient()


def firebase_app(project: str | None = None) -> Any:
    """The firebase-admin app of `project` (default: the settings' project). Tokens are
    verified against the app's project, so each Firebase project a site signs users into
    (Tarsify's developer and consumer projects) has its own app."""
    import firebase_admin

    settings = get_settings()
    project = project or settings.project_id
    name = "[DEFAULT]" if project == settings.project_id else f"project:{project}"
    with _lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            options = {"projectId": project}
            if settings.auth_emulator_host:
                from firebase_admin import credentials

                # The emulator accepts unsigned admin calls; no real credential exists.
                cred = _EmulatorCredential(credentials)
                return firebase_admin.initialize_app(cred, options=options, name=name)
            return firebase_admin.initialize_app(options=options, name=name)


def _EmulatorCredential(credentials_module: Any) -> Any:
    import google.auth.credentials

    class _Anon(credentials_module.Base):
        def get_credential(self) -> Any:
            return google.auth.credentials.AnonymousCredentials()

    return _Anon()


@functools.cache
def http_client() -> Any:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))

"""Killa Tamata: /api/v1/arcade/** (games, releases, review, launch sessions; rules in
shared/media/arcade/). Every route needs an API key or a browser session. Bodies and query
strings follow the document exactly: unknown fields or parameters are a 400."""

from __future__ import annotations

from typing import Annotated, Literal

import flask
import functions_framework
from pydantic import Field, StringConstraints

from functions.http import entry_point, json_response, parse_body
from functions.media.site import authenticate, render_error
from shared.engine.errors import AppError, ErrorKind
from shared.media.arcade import games, launches, releases, review, views
from shared.media.arcade.games import Channel, Visibility
from shared.media.views import Body

MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # Cloud Run's request limit

Text = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]*$")
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class GameCreateRequest(Body):
    slug: Annotated[str, StringConstraints(min_length=3, max_length=64)]
    title: Text
    shortDescription: Annotated[str, StringConstraints(min_length=1, max_length=280)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=8000)]
    tags: Annotated[list[Tag], Field(max_length=10)] | None = None


class ReleaseSubmitRequest(Body):
    releaseId: Id


class ReviewReleaseRequest(Body):
    releaseId: Id
    action: Literal["send_to_review", "approve", "reject", "publish"]
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    channel: Literal["dev", "live"] | None = None
    visibility: Literal["hidden", "owner_only", "public"] | None = None


class LaunchCreateRequest(Body):
    slug: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    idempotencyKey: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    channel: Literal["dev", "live"] = "live"


class LaunchEventRequest(Body):
    sessionId: Id
    event: Literal["launched", "heartbeat", "end", "failed_bootstrap"]
    failureReason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


def _query(request: flask.Request, allowed: set[str]) -> dict[str, str]:
    unknown = set(request.args.keys()) - allowed
    if unknown:
        raise AppError(ErrorKind.INVALID, f"{sorted(unknown)[0]}: is not a query parameter")
    if any(len(request.args.getlist(name)) > 1 for name in request.args):
        raise AppError(ErrorKind.INVALID, "query: a parameter is repeated")
    return dict(request.args.items())


def _channel(raw: str | None) -> Channel:
    if raw is None:
        return Channel.LIVE
    if raw not in {c.value for c in Channel}:
        raise AppError(ErrorKind.INVALID, "channel: must be dev or live")
    return Channel(raw)


# --- games ---------------------------------------------------------------------------------


def create_game(request: flask.Request) -> flask.Response:
    body = parse_body(request, GameCreateRequest)
    caller = authenticate(request)
    game = games.create(
        owner_id=caller.account_id,
        slug=body.slug,
        title=body.title,
        short_description=body.shortDescription,
        description=body.description,
        tags=body.tags or [],
    )
    return json_response({"game": views.game_view(game)}, 201)


def my_games(request: flask.Request) -> flask.Response:
    _query(request, set())
    caller = authenticate(request)
    owned = games.mine(caller.account_id)
    by_game: dict[str, list[releases.Release]] = {}
    for release in releases.for_owner(caller.account_id):
        by_game.setdefault(release.game_id, []).append(release)
    return json_response(
        {
            "games": [
                {
                    "game": views.game_view(game),
                    "releases": [views.release_view(r) for r in by_game.get(game.id, [])],
                }
                for game in owned
            ]
        }
    )


def game_detail(request: flask.Request) -> flask.Response:
    query = _query(request, {"slug", "channel"})
    if not query.get("slug"):
        raise AppError(ErrorKind.INVALID, "slug: is required")
    channel = _channel(query.get("channel"))
    caller = authenticate(request)
    admin = games.is_admin(caller.account_id)
    game = games.detail(
        slug=query["slug"], channel=channel, caller_id=caller.account_id, admin=admin
    )
    release = releases.find(game.channels[channel] or "")
    full = admin or game.owner_id == caller.account_id
    return json_response(views.channel_entry_view(game, release, channel, full=full))


def catalog(request: flask.Request) -> flask.Response:
    channel = _channel(_query(request, {"channel"}).get("channel"))
    caller = authenticate(request)
    admin = games.is_admin(caller.account_id)
    shown = games.catalog(channel, caller_id=caller.account_id, admin=admin)
    entries = [
        views.channel_entry_view(
            game,
            releases.find(game.channels[channel] or ""),
            channel,
            full=admin or game.owner_id == caller.account_id,
        )
        for game in shown
    ]
    return json_response({"channel": channel.value, "entries": entries})


# --- releases and review ---------------------------------------------------------------------


def _one(parts: list, name: str) -> object | None:
    if len(parts) > 1:
        raise AppError(ErrorKind.INVALID, f"{name}: is sent more than once")
    return parts[0] if parts else None


def upload_release(request: flask.Request) -> flask.Response:
    if request.mimetype != "multipart/form-data":
        raise AppError(ErrorKind.INVALID, "body: must be multipart/form-data")
    form, files = request.form, request.files
    unknown = (set(form.keys()) | set(files.keys())) - {
        "gameId",
        "manifestJson",
        "bundle",
        "coverImage",
    }
    if unknown:
        raise AppError(ErrorKind.INVALID, f"{sorted(unknown)[0]}: is not an upload field")
    game_id = _one(form.getlist("gameId"), "gameId")
    manifest = _one(form.getlist("manifestJson"), "manifestJson")
    bundle = _one(files.getlist("bundle"), "bundle")
    cover = _one(files.getlist("coverImage"), "coverImage")
    if not isinstance(game_id, str) or not game_id:
        raise AppError(ErrorKind.INVALID, "gameId: is required")
    if not isinstance(manifest, str) or not manifest:
        raise AppError(ErrorKind.INVALID, "manifestJson: is required (a form field)")
    if bundle is None:
        raise AppError(ErrorKind.INVALID, "bundle: is required (a file)")
    if form.getlist("bundle") or form.getlist("coverImage"):
        raise AppError(ErrorKind.INVALID, "bundle, coverImage: must be files")
    caller = authenticate(request, file_body=True)
    release = releases.upload(
        owner_id=caller.account_id,
        game_id=game_id,
        manifest_json=manifest,
        bundle=bundle.read(),  # type: ignore[attr-defined]
        cover=cover.read() if cover is not None else None,  # type: ignore[attr-defined]
    )
    return json_response({"release": views.release_view(release)}, 201)


def submit_release(request: flask.Request) -> flask.Response:
    body = parse_body(request, ReleaseSubmitRequest)
    caller = authenticate(request)
    release = review.move(
        release_id=body.releaseId, action=review.SUBMIT, actor_id=caller.account_id
    )
    return json_response({"release": views.release_view(release)})


def review_queue(request: flask.Request) -> flask.Response:
    _query(request, set())
    caller = authenticate(request)
    waiting = review.queue(caller.account_id)
    return json_response(
        {
            "releases": [
                {
                    "release": views.release_view(release),
                    "game": views.game_view(game) if game else None,
                }
                for release, game in waiting
            ]
        }
    )


def review_release(request: flask.Request) -> flask.Response:
    body = parse_body(request, ReviewReleaseRequest)
    caller = authenticate(request)
    release = review.move(
        release_id=body.releaseId,
        action=body.action,
        actor_id=caller.account_id,
        notes=body.notes,
        channel=Channel(body.channel) if body.channel else None,
        visibility=Visibility(body.visibility) if body.visibility else None,
    )
    return json_response({"release": views.release_view(release)})


# --- launch sessions -------------------------------------------------------------------------


def create_launch(request: flask.Request) -> flask.Response:
    body = parse_body(request, LaunchCreateRequest)
    caller = authenticate(request)
    session, created = launches.launch(
        account_id=caller.account_id,
        slug=body.slug,
        channel=Channel(body.channel),
        idempotency_key=body.idempotencyKey,
    )
    return json_response(views.session_view(session), 201 if created else 200)


def record_launch_event(request: flask.Request) -> flask.Response:
    body = parse_body(request, LaunchEventRequest)
    caller = authenticate(request)
    session = launches.record(
        account_id=caller.account_id,
        session_id=body.sessionId,
        event=launches.Event(body.event),
        failure_reason=body.failureReason,
    )
    return json_response(views.session_view(session))


_handle = entry_point(
    [
        ("POST", "/api/v1/arcade/games", create_game),
        ("GET", "/api/v1/arcade/games/mine", my_games),
        ("GET", "/api/v1/arcade/games/detail", game_detail),
        ("GET", "/api/v1/arcade/catalog", catalog),
        ("POST", "/api/v1/arcade/releases/upload", upload_release),
        ("PATCH", "/api/v1/arcade/releases/submit", submit_release),
        ("GET", "/api/v1/arcade/review/queue", review_queue),
        ("PATCH", "/api/v1/arcade/review/release", review_release),
        ("POST", "/api/v1/arcade/launch-sessions", create_launch),
        ("PATCH", "/api/v1/arcade/launch-sessions", record_launch_event),
    ],
    render_error,
    max_body_bytes=MAX_UPLOAD_BYTES,
)


@functions_framework.http
def media_arcade(request: flask.Request) -> flask.Response:
    return _handle(request)

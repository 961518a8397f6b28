"""PicShapes: /api/v1/users/me and /api/v1/users/me/credits."""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.pics.site import authenticate, authenticate_account, render_error
from shared.pics import service as pics
from shared.pics import views


def me(request: flask.Request) -> flask.Response:
    account = authenticate_account(request)
    return json_response(views.profile(account, credits=pics.credits(account.id)))


def my_credits(request: flask.Request) -> flask.Response:
    account_id = authenticate(request).account_id
    return json_response({"credits": pics.credits(account_id), "user_id": account_id})


_handle = entry_point(
    [
        ("GET", "/api/v1/users/me", me),
        ("GET", "/api/v1/users/me/credits", my_credits),
    ],
    render_error,
)


@functions_framework.http
def pics_users(request: flask.Request) -> flask.Response:
    return _handle(request)

"""The hosted pay page of the local Coinbase Commerce server (``/pay/<code>``).

A plain server-rendered form, no JavaScript, so a person in a browser and a test with an HTTP
client pay the same way. Every value taken from a charge is HTML-escaped. The form is offered
only while a payment can still settle the charge (NEW, or UNRESOLVED/UNDERPAID).
"""

from __future__ import annotations

import html
from typing import Any

import flask

from infra.local.coinbase.store import context_of, status_of


def page(title: str, body: str, status: int = 200) -> flask.Response:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - Coinbase Commerce (local)</title></head>"
        "<body style='font-family:sans-serif;max-width:32rem;margin:3rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return flask.Response(text, status=status, mimetype="text/html")


def charge_html(charge: dict[str, Any]) -> str:
    price = charge["pricing"]["local"]["amount"]
    status, context = status_of(charge), context_of(charge)
    parts = [
        f"<p>{html.escape(charge['description'])}</p>",
        f"<p>Amount: <strong>${html.escape(price)} USD</strong> (USDC)</p>",
        f"<p>Status: <strong>{status}{f' ({context})' if context else ''}</strong></p>",
    ]
    if status == "NEW" or (status, context) == ("UNRESOLVED", "UNDERPAID"):
        parts.append(
            f"<form method='post' action='/pay/{charge['code']}'>"
            f"<label>Pay USD <input name='amount' value='{html.escape(price)}'></label> "
            "<button type='submit'>Pay with crypto</button></form>"
        )
        if charge["cancel_url"]:
            parts.append(f"<p><a href='{html.escape(charge['cancel_url'])}'>Cancel</a></p>")
    elif charge["redirect_url"]:
        parts.append(f"<p><a href='{html.escape(charge['redirect_url'])}'>Continue</a></p>")
    return "".join(parts)

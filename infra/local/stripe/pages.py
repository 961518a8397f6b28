"""The customer-facing HTML of the local Stripe server: hosted Checkout and Connect onboarding.

Plain server-rendered forms, no JavaScript, so a person in a browser and a test with an HTTP
client drive them the same way.
"""

from __future__ import annotations

from html import escape
from typing import Any

from infra.local.stripe.store import format_amount

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "table{width:100%;border-collapse:collapse}td{padding:.3rem 0}"
    ".total{font-weight:600;border-top:1px solid #ccc}"
    "button{font-size:1rem;padding:.6rem 1.4rem;background:#635bff;color:#fff;border:0;"
    "border-radius:6px}input{font-size:1rem;padding:.4rem;width:100%;margin:.3rem 0 .8rem}"
    ".note{color:#666;font-size:.85rem}"
)


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def checkout(session: dict[str, Any], line_items: list[dict[str, Any]], pay_url: str) -> str:
    currency = session["currency"]
    rows = "".join(
        f"<tr><td>{escape(item['description'])} &times; {item['quantity']}</td>"
        f"<td align='right'>{escape(format_amount(item['amount_total'], currency))}</td></tr>"
        for item in line_items
    )
    total = escape(format_amount(session["amount_total"], currency))
    table = (
        f"<table>{rows}<tr class='total'><td>Total</td>"
        f"<td align='right' id='amount-total'>{total}</td></tr></table>"
    )
    if session["status"] != "open":
        word = "paid" if session["payment_status"] == "paid" else session["status"]
        return page("Checkout", f"{table}<p id='status'>This session is {escape(word)}.</p>")
    email = escape(session.get("customer_email") or "")
    cancel = ""
    if session.get("cancel_url"):
        cancel = f" <a href='{escape(session['cancel_url'])}'>Cancel</a>"
    form = (
        f"<form method='post' action='{escape(pay_url)}'>"
        f"<label>Email<input name='email' type='email' value='{email}' required></label>"
        "<label>Card<input name='card' value='4242 4242 4242 4242' required></label>"
        f"<button type='submit'>Pay {total}</button>{cancel}</form>"
        "<p class='note'>Local Stripe test mode: any card number passing the Luhn check "
        "succeeds.</p>"
    )
    return page("Checkout", table + form)


def paid(session: dict[str, Any]) -> str:
    total = escape(format_amount(session["amount_total"], session["currency"]))
    return page("Payment complete", f"<p id='status'>Paid {total}. You can close this page.</p>")


def onboarding(account: dict[str, Any], submit_url: str) -> str:
    body = (
        f"<p>Connected account <code>{escape(account['id'])}</code> "
        f"({escape(account['type'])}).</p>"
        f"<form method='post' action='{escape(submit_url)}'>"
        "<button type='submit'>Finish onboarding</button></form>"
        "<p class='note'>Local Stripe test mode: identity and bank details are filled in.</p>"
    )
    return page("Set up payouts", body)


def message(title: str, text: str) -> str:
    return page(title, f"<p>{escape(text)}</p>")

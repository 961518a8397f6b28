"""`relay`: operator commands against the configured stack (by default the running
`make dev` stack, through .local/dev.env). Each command prints one JSON object."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import typer

from shared.engine.errors import AppError
from shared.library.cli import library_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
account_app = typer.Typer(no_args_is_help=True, help="Accounts.")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
credits_app = typer.Typer(no_args_is_help=True, help="Credits.")
ledger_app = typer.Typer(no_args_is_help=True, help="Ledger audit.")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(credits_app, name="credits")
app.add_typer(ledger_app, name="ledger")
affiliates_app = typer.Typer(no_args_is_help=True, help="Killa Tamata affiliate payouts.")
app.add_typer(affiliates_app, name="affiliates")
x402_app = typer.Typer(no_args_is_help=True, help="x402 purchases.")
app.add_typer(x402_app, name="x402")
market_app = typer.Typer(no_args_is_help=True, help="Tarsify marketplace.")
app.add_typer(market_app, name="market")
app.add_typer(library_app, name="library")
grid_app = typer.Typer(no_args_is_help=True, help="Vibe Earning grid.")
app.add_typer(grid_app, name="grid")

Email = Annotated[str, typer.Option("--email", help="the account's email")]


def _print(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj))


def _fail(message: str) -> None:
    _print({"ok": False, "error": message})
    raise typer.Exit(1)


@account_app.command("create")
def account_create(email: Email, admin: bool = False, worker: bool = False) -> None:
    from shared.engine.identity import Role, create_account

    roles = [r for r, on in ((Role.ADMIN, admin), (Role.WORKER, worker)) if on]
    try:
        account = create_account(email=email, roles=roles)
    except AppError as exc:
        _fail(exc.message)
    _print({"uid": account.id, "email": account.email})


@key_app.command("create")
def key_create(
    email: Email, site: Annotated[str, typer.Option(help="market|pics|grid|media")], label: str = ""
) -> None:
    from shared.engine.identity import Site, create_api_key, find_account_by_email

    try:
        account = find_account_by_email(email)
        key = create_api_key(account_id=account.id, site=Site(site), label=label)
    except ValueError:
        _fail(f"unknown site {site!r}")
    except AppError as exc:
        _fail(exc.message)
    _print({"key": key})


@credits_app.command("grant")
def credits_grant(
    email: Email,
    micros: Annotated[int, typer.Option(min=1)],
    reason: Annotated[str, typer.Option(help="why (kept on the ledger entry)")],
    ref: Annotated[str, typer.Option(help="idempotency reference (default: from the reason)")] = "",
) -> None:
    """Credit an account, once per (account, ref): re-running the same grant changes
    nothing. Without --ref the ref is derived from --micros and --reason."""
    from shared.engine import ledger
    from shared.engine.identity import find_account_by_email

    if not reason.strip():
        _fail("--reason must not be empty")
    ref = ref or "r" + hashlib.sha256(f"{micros}:{reason}".encode()).hexdigest()[:24]
    try:
        account = find_account_by_email(email)
        applied = ledger.credit(
            account_id=account.id,
            kind=ledger.EntryKind.GRANT,
            ref=f"{account.id}:{ref}",  # refs are per account
            micros=micros,
            memo=f"operator grant: {reason}",
        )
    except AppError as exc:
        _fail(exc.message)
    _print(
        {
            "applied": applied,
            "ref": ref,
            "balance_micros": ledger.balance(account.id).balance_micros,
        }
    )


@app.command("token")
def token(email: Email) -> None:
    """A Firebase ID token for the account (Auth emulator only)."""
    from infra.local.firebase_tokens import emulator_id_token
    from shared.engine.identity import find_account_by_email
    from shared.engine.settings import get_settings

    if not get_settings().auth_emulator_host:
        _fail("relay token works against the Auth emulator only")
    try:
        account = find_account_by_email(email)
    except AppError as exc:
        _fail(exc.message)
    try:
        id_token = emulator_id_token(email, admin=account.is_admin)
    except RuntimeError as exc:
        _fail(str(exc))
    _print({"idToken": id_token})


@grid_app.command("backfill-queue")
def grid_backfill_queue() -> None:
    """Give every queued grid job its claimable-queue entry (once, after the deploy that
    introduced the queue; safe to repeat)."""
    from shared.grid.queue import backfill

    _print({"written": backfill()})


@ledger_app.command("check")
def ledger_check(email: Annotated[str | None, typer.Option("--email")] = None) -> None:
    from shared.engine.audit import check
    from shared.engine.identity import find_account_by_email

    account_id = None
    if email:
        try:
            account_id = find_account_by_email(email).id
        except AppError as exc:
            _fail(exc.message)
    result = check(account_id)
    _print(result)
    if not result["ok"]:
        raise typer.Exit(1)


@affiliates_app.command("pay")
def affiliates_pay(
    request_id: Annotated[str, typer.Argument(help="the payout request id")],
    reference: Annotated[str, typer.Option("--reference", help="the transfer's reference")],
) -> None:
    """Mark a payout request paid (it moves to the affiliate's payouts history)."""
    from shared.media import affiliates

    try:
        paid = affiliates.mark_paid(request_id=request_id, reference=reference)
    except AppError as exc:
        _fail(exc.message)
    _print(
        {
            "id": paid.id,
            "status": str(paid.status),
            "amount_micros": paid.amount_micros,
            "reference": paid.reference,
        }
    )


@x402_app.command("reconcile")
def x402_reconcile() -> None:
    """Credit settled-but-uncredited x402 purchases (once) and list the ones whose
    settlement is unknown, for an operator to check on chain."""
    from shared.media import x402_purchase

    _print(x402_purchase.reconcile())


@market_app.command("seed")
def market_seed() -> None:
    """Create the endpoints and base models Relay ships (idempotent: a second run changes
    nothing)."""
    from shared.market import seed

    try:
        result = seed.seed()
    except AppError as exc:
        _fail(exc.message)
    _print(result)


if __name__ == "__main__":
    app()

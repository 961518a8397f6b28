"""`relay library ...`: the Model Manager's operator commands. Each prints one JSON object.

`relay library key show` prints the library key (making one when there is none);
`relay library key regenerate` replaces it, ending the old key and its browser sessions.
"""

from __future__ import annotations

import json

import typer

library_app = typer.Typer(no_args_is_help=True, help="Model Manager library.")
key_app = typer.Typer(no_args_is_help=True, help="The library API key.")
library_app.add_typer(key_app, name="key")


@key_app.command("show")
def key_show() -> None:
    """Print the library key, creating one if none exists."""
    from shared.library import keys

    typer.echo(json.dumps({"apiKey": keys.show()}))


@key_app.command("regenerate")
def key_regenerate() -> None:
    """Replace the library key; the old one stops working at once."""
    from shared.library import keys

    typer.echo(json.dumps({"apiKey": keys.regenerate()}))

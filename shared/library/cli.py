"""`relay library ...`: the Model Manager's operator commands. Each prints one JSON object.

`relay library scan` indexes the models root (incremental) with a progress bar on stderr;
`relay library seed` uploads the fixture models and scans; `relay library put FILE --to
PATH` copies a local file into the models root; `relay library key show` prints
the library key (making one when there is none); `relay library key regenerate` replaces
it, ending the old key and its browser sessions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.engine.errors import AppError

library_app = typer.Typer(no_args_is_help=True, help="Model Manager library.")
key_app = typer.Typer(no_args_is_help=True, help="The library API key.")
library_app.add_typer(key_app, name="key")


def _print(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj, default=str))


def _scan_with_progress(under: str) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from shared.library import scan

    # The bar goes to stderr so stdout stays one JSON object.
    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("scan", total=None)
        report = scan.run(
            under=under, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    return scan.public(report)


@library_app.command("scan")
def library_scan(
    under: Annotated[str, typer.Option(help="only this folder of the models root")] = "",
) -> None:
    """Index the model files under the models root (incremental); prints the report."""
    try:
        report = _scan_with_progress(under)
    except AppError as exc:
        _print({"ok": False, "error": exc.message})
        raise typer.Exit(1) from None
    _print(report)


@library_app.command("seed")
def library_seed(
    count: Annotated[int, typer.Option(min=1, max=10_000, help="fixture models")] = 15,
    seed: int = 0,
) -> None:
    """Upload the fixture models (with sidecars, previews and two broken files), then scan."""
    from shared.library import fixtures

    fixtures.upload(count=count, seed=seed)
    _print(_scan_with_progress(""))


@library_app.command("put")
def library_put(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a local file")],
    to: Annotated[
        str, typer.Option(help="its path under the models root, e.g. LoRA/mine/x.safetensors")
    ],
) -> None:
    """Copy a local file into the models root (then `relay library scan` indexes it)."""
    from shared.library import records, storage

    name = records.inside_root(to)
    if name is None:
        _print({"ok": False, "error": "--to must be a relative path inside the models root"})
        raise typer.Exit(1)
    storage.bucket().blob(name).upload_from_filename(str(file))
    _print({"ok": True, "object": name})


@key_app.command("show")
def key_show() -> None:
    """Print the library key, creating one if none exists."""
    from shared.library import keys

    _print({"apiKey": keys.show()})


@key_app.command("regenerate")
def key_regenerate() -> None:
    """Replace the library key; the old one stops working at once."""
    from shared.library import keys

    _print({"apiKey": keys.regenerate()})

"""The local front door: firebase.json's hosting rewrites, served on one port per site.

There is no second routing table: each site is a hosting target in firebase.json, each
rewrite names a function, and the function is the very object Cloud Functions deploys
(loaded by functions-framework's `create_app` from main.py). A second port serves every
function at `/<name>`, the way Cloud Functions exposes them to Cloud Tasks and webhooks.

Like Firebase Hosting, the site ports forward only the cookie named `__session` to a
function and strip every other cookie from the request, so a cookie that production would
drop is dropped here too (the functions port, like a direct Cloud Functions URL, keeps them).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[2]
SITE_PORTS = {"market": 8080, "pics": 8081, "grid": 3000, "media": 8082, "library": 3001}
FUNCTIONS_PORT = 8090

HOSTING_COOKIE = "__session"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def glob_to_regex(glob: str) -> re.Pattern[str]:
    """Firebase Hosting globs: `**` any path, `*` one segment, `{a,b}` alternatives."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "{":
            end = glob.index("}", i)
            out.append("(?:" + "|".join(re.escape(p) for p in glob[i + 1 : end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    # \Z, not $: `$` also matches before a trailing newline.
    return re.compile("^" + "".join(out) + "/?\\Z", re.DOTALL)


def load_sites(config_path: Path = REPO / "firebase.json") -> dict[str, list[tuple[Any, str]]]:
    config = json.loads(config_path.read_text())
    sites = {}
    for target in config.get("hosting", []):
        rewrites = []
        for rewrite in target.get("rewrites", []):
            function = rewrite.get("function")
            if isinstance(function, dict):
                function = function["functionId"]
            if function:
                rewrites.append((glob_to_regex(rewrite["source"]), function))
        sites[target["target"]] = rewrites
    return sites


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b'{"error":"Not found"}'
    start_response(
        "404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def hosting_cookie_header(raw: str) -> str:
    """The Cookie header as Hosting forwards it: the `__session` pairs only."""
    kept = [
        pair.strip()
        for pair in raw.split(";")
        if pair.strip().partition("=")[0].strip() == HOSTING_COOKIE
    ]
    return "; ".join(kept)


def strip_cookies(environ: dict[str, Any]) -> dict[str, Any]:
    raw = environ.get("HTTP_COOKIE")
    if raw is None:
        return environ
    stripped = {k: v for k, v in environ.items() if k != "HTTP_COOKIE"}
    kept = hosting_cookie_header(raw)
    if kept:
        stripped["HTTP_COOKIE"] = kept
    return stripped


def forwarded(environ: dict[str, Any], *, hosting: bool) -> dict[str, Any]:
    """X-Forwarded-For as production's front ends leave it: Google's front end appends the
    address that connected; Firebase Hosting's path then appends its own hop, too."""
    peer = environ.get("REMOTE_ADDR") or "127.0.0.1"
    hops = [environ.get("HTTP_X_FORWARDED_FOR", ""), peer] + ([HOSTING_HOP] if hosting else [])
    return {**environ, "HTTP_X_FORWARDED_FOR": ", ".join(h for h in hops if h)}


HOSTING_HOP = "10.0.0.1"  # stands for Hosting's own address, the last hop it appends


class SiteApp:
    def __init__(self, rewrites: list[tuple[Any, str]], functions: dict[str, WSGIApp]):
        self.rewrites = [(pattern, functions[name]) for pattern, name in rewrites]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        environ = forwarded(environ, hosting=True)
        for pattern, app in self.rewrites:
            if pattern.match(path):
                return app(strip_cookies(environ), start_response)
        return _not_found(environ, start_response)


class FunctionsApp:
    """Every function at /<name>, with the name stripped as Cloud Functions does."""

    def __init__(self, functions: dict[str, WSGIApp]):
        self.functions = functions

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        name, _, rest = path.lstrip("/").partition("/")
        app = self.functions.get(name)
        if app is None:
            return _not_found(environ, start_response)
        environ = {
            **forwarded(environ, hosting=False),
            "PATH_INFO": "/" + rest,
            "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + "/" + name,
        }
        return app(environ, start_response)


def function_apps(names: Iterable[str]) -> dict[str, WSGIApp]:
    source = str(REPO / "main.py")
    return {name: functions_framework.create_app(target=name, source=source) for name in names}


def serve(site_ports: dict[str, int], functions_port: int, host: str = "127.0.0.1") -> None:
    sites = load_sites()
    import main  # the deploy module lists every function, hosted or internal

    names = set(main.__all__)
    apps = function_apps(sorted(names))
    servers = [
        (
            f"functions :{functions_port}",
            make_server(host, functions_port, FunctionsApp(apps), threaded=True),
        )
    ]
    for site, rewrites in sites.items():
        port = site_ports[site]
        servers.append(
            (f"{site} :{port}", make_server(host, port, SiteApp(rewrites, apps), threaded=True))
        )
    for label, server in servers:
        threading.Thread(target=server.serve_forever, name=label, daemon=True).start()
        logging.info("serving %s", label)
    threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", default="", help="site=port,... overrides")
    parser.add_argument("--functions-port", type=int, default=FUNCTIONS_PORT)
    args = parser.parse_args()
    ports = dict(SITE_PORTS)
    for item in filter(None, args.ports.split(",")):
        site, port = item.split("=")
        ports[site] = int(port)
    from shared.engine import logs

    logs.configure()  # JSON lines, as Cloud Functions' would be
    # Our own request line replaces werkzeug's, which would print query strings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(ports, args.functions_port, args.host)


if __name__ == "__main__":
    main()

"""firebase.json is the only routing table: every rewrite names a deployed function."""

import pytest

import main
from infra.local.gateway import glob_to_regex, load_sites


def test_every_rewrite_targets_an_exported_function() -> None:
    for site, rewrites in load_sites().items():
        for _, function in rewrites:
            assert function in main.__all__, f"{site} rewrites to unknown {function}"


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("/api/v1/jobs/**", "/api/v1/jobs/abc/result", True),
        ("/api/v1/jobs/**", "/api/v1/jobsx", False),
        ("/api/v1/jobs", "/api/v1/jobs", True),
        ("/api/v1/jobs", "/api/v1/jobs/", True),
        ("/api/*/tiers", "/api/v1/tiers", True),
        ("/api/*/tiers", "/api/v1/x/tiers", False),
        ("/api/v1/{tiers,models}", "/api/v1/models", True),
    ],
)
def test_firebase_globs(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(glob).match(path)) is matches


def test_pics_paths_route_to_their_functions() -> None:
    rewrites = load_sites()["pics"]

    def route(path: str) -> str | None:
        return next((fn for pattern, fn in rewrites if pattern.match(path)), None)

    assert route("/api/v1/users/me/credits") == "pics_users"
    assert route("/api/v1/jobs") == "pics_jobs"
    assert route("/api/v1/jobs/1/result") == "pics_jobs"
    assert route("/api/v1/models") == "pics_catalog"
    assert route("/api/v2/jobs") is None

"""`infra/deploy.sh --plan`: prints every command a deploy runs, runs none of them.

The plan is run with an empty environment and a PATH whose `gcloud` and `firebase` fail the
test if called, then read back as shell words and checked against the code: every function
main.py exports (with the right invoker), every queue in infra/tasks/queues.yaml, the
Firestore indexes file, every schedule, every secret the settings read, the monitoring
files. The function source is checked too: runtime-only requirements, a .gcloudignore, and
an import of main.py that loads no test, local or GPU module.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "deploy.sh"
TASKS_SA = "relay-tasks@<PROJECT>.iam.gserviceaccount.com"
FUNCTIONS_SA = "relay-functions@<PROJECT>.iam.gserviceaccount.com"
# Called from outside Google with their own proof (the per-job callback token).
EXTERNAL_CALLERS = {"callback_gpu"}
NOT_RUNTIME = {
    "pytest",
    "moto",
    "aiosmtpd",
    "schemathesis",
    "hypothesis",
    "ruff",
    "playwright",
    "mypy",
    "gcp-storage-emulator",
    "runpod",
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "safetensors",
    "numpy",
    "trimesh",
    "google-genai",
}


def _fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool in ("gcloud", "firebase", "gsutil"):
        fake = bin_dir / tool
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 97\n')
        fake.chmod(0o755)
    return bin_dir, calls


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, calls = _fake_tools(tmp_path)
    python_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:{python_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, calls


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    tmp_path = tmp_path_factory.mktemp("plan")
    result, calls = _run(tmp_path, "--plan")
    assert result.returncode == 0, result.stderr
    assert not calls.exists(), f"--plan ran: {calls.read_text()}"
    assert result.stderr == ""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines
    return [shlex.split(line) for line in lines]


def _flags(command: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in command:
        if word.startswith("--"):
            key, _, value = word.partition("=")
            out[key] = value
    return out


def _exported() -> list[str]:
    tree = ast.parse((ROOT / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return list(ast.literal_eval(node.value))
    raise AssertionError("main.py has no __all__")


def _routed() -> set[str]:
    hosting = json.loads((ROOT / "firebase.json").read_text())["hosting"]
    return {
        rewrite["function"]["functionId"]
        for site in hosting
        for rewrite in site.get("rewrites", [])
        if "function" in rewrite
    }


def _task_targets() -> set[str]:
    """The Target names in shared/engine/queue.py: what Cloud Tasks calls."""
    tree = ast.parse((ROOT / "shared" / "engine" / "queue.py").read_text())
    target = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Target")
    return {ast.literal_eval(node.value) for node in target.body if isinstance(node, ast.Assign)}


def _queues() -> dict[str, dict[str, str]]:
    queues: dict[str, dict[str, str]] = {}
    current = None
    for raw in (ROOT / "infra" / "tasks" / "queues.yaml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = line.rstrip(":").strip()
            queues[current] = {}
        else:
            assert current is not None
            key, value = (part.strip() for part in line.split(":", 1))
            queues[current][key] = value
    return queues


def _deploys(plan: list[list[str]]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for command in plan:
        if command[:3] == ["gcloud", "functions", "deploy"]:
            out.setdefault(command[3], []).append(command)
    return out


def test_plan_runs_nothing_and_needs_no_settings(plan: list[list[str]]) -> None:
    assert plan[0] == ["gcloud", "config", "set", "project", "<PROJECT>"]
    assert all(command[0] in {"gcloud", "firebase"} for command in plan)


def test_a_deploy_without_settings_stops_before_any_command(tmp_path: Path) -> None:
    result, calls = _run(tmp_path)
    assert result.returncode == 2
    assert "set PROJECT" in result.stderr
    assert not calls.exists()


def test_script_parses_and_lints() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_every_exported_function_is_deployed_once_with_its_invoker(
    plan: list[list[str]],
) -> None:
    deploys = _deploys(plan)
    exported = _exported()
    assert sorted(deploys) == sorted(exported)
    routed = _routed()
    private = {name for name in exported if name not in routed | EXTERNAL_CALLERS}
    # What is not routed by hosting is exactly what Cloud Tasks and Cloud Scheduler call.
    assert private == _task_targets()
    invokers = {
        command[3]: _flags(command)
        for command in plan
        if command[:3] == ["gcloud", "functions", "add-invoker-policy-binding"]
    }
    for name in exported:
        (command,) = deploys[name]
        flags = _flags(command)
        assert flags["--entry-point"] == name
        assert flags["--service-account"] == FUNCTIONS_SA
        assert flags["--source"] == "."
        auth = {w for w in command if w.endswith("allow-unauthenticated")}
        if name in private:
            assert auth == {"--no-allow-unauthenticated"}, name
            assert invokers[name]["--member"] == f"serviceAccount:{TASKS_SA}"
        else:
            assert auth == {"--allow-unauthenticated"}, name
            assert name not in invokers
    assert set(invokers) == private
    # The task caller exists, and the functions may mint its OIDC tokens on tasks.
    assert ["gcloud", "iam", "service-accounts", "create", "relay-tasks"] in [c[:5] for c in plan]
    assert any(
        c[:4] == ["gcloud", "iam", "service-accounts", "add-iam-policy-binding"]
        and c[4] == TASKS_SA
        and _flags(c)["--role"] == "roles/iam.serviceAccountUser"
        and _flags(c)["--member"] == f"serviceAccount:{FUNCTIONS_SA}"
        for c in plan
    )


def test_settings_reach_every_function(plan: list[list[str]]) -> None:
    for (command,) in _deploys(plan).values():
        raw = _flags(command)["--set-env-vars"]
        assert raw.startswith("^|^")
        env = dict(pair.split("=", 1) for pair in raw[3:].split("|"))
        assert env["RELAY_ENV"] == "production"
        assert env["RELAY_FUNCTIONS_URL"] == "https://us-central1-<PROJECT>.cloudfunctions.net"
        assert env["RELAY_TASKS_SERVICE_ACCOUNT"] == TASKS_SA
        assert env["RELAY_TASKS_QUEUE"] in _queues()
        for name in ("RELAY_RUNPOD_ENDPOINTS", "RELAY_GOOGLE_CLIENT_IDS", "RELAY_MAIL_FROM"):
            assert env[name] == f"<{name}>"


def test_every_queue_is_created_with_its_settings(plan: list[list[str]]) -> None:
    queues = _queues()
    assert queues
    for name, settings in queues.items():
        creates = [c for c in plan if c[:5] == ["gcloud", "tasks", "queues", "create", name]]
        updates = [c for c in plan if c[:5] == ["gcloud", "tasks", "queues", "update", name]]
        assert len(creates) == 1 and len(updates) == 1, name
        flags = _flags(updates[0])
        assert flags.pop("--location") == "us-central1"
        assert flags == {f"--{k.replace('_', '-')}": v for k, v in settings.items()}


def test_firestore_indexes_and_rules_are_deployed(plan: list[list[str]]) -> None:
    deploys = [c for c in plan if c[:2] == ["firebase", "deploy"]]
    (command,) = [c for c in deploys if "firestore" in c[c.index("--only") + 1]]
    flags = _flags(command)
    assert command[command.index("--project") + 1] == "<PROJECT>"
    only = command[command.index("--only") + 1].split(",")
    assert {"firestore:indexes", "firestore:rules"} <= set(only)
    config = ROOT / command[command.index("--config") + 1]
    declared = json.loads(config.read_text())["firestore"]
    indexes = json.loads((config.parent / declared["indexes"]).read_text())
    assert (config.parent / declared["rules"]).exists()
    composite = indexes["indexes"]
    assert composite and all(len(index["fields"]) >= 2 for index in composite)
    assert flags == {"--project": "", "--only": "", "--config": "", "--non-interactive": ""}
    # Hosting goes last, once every function it routes to exists.
    assert deploys[-1] == plan[-1] and "hosting" in plan[-1]


def test_every_schedule_calls_a_task_target_with_an_oidc_token(plan: list[list[str]]) -> None:
    jobs = [c for c in plan if c[:4] == ["gcloud", "scheduler", "jobs", "create"]]
    targets = {}
    for command in jobs:
        flags = _flags(command)
        function = flags["--uri"].rsplit("/", 1)[1]
        targets[function] = flags
        assert flags["--oidc-service-account-email"] == TASKS_SA
        assert flags["--oidc-token-audience"] == flags["--uri"]
    # The sweep is the one periodic job the code expects (shared/engine/queue.py Target.SWEEP).
    assert "task_sweep" in _task_targets()
    assert "task_sweep" in targets
    assert targets["task_sweep"]["--schedule"] == "* * * * *"
    assert set(targets) <= _task_targets()


def _secret_variables() -> set[str]:
    from shared.engine.settings import Settings

    names = set()
    for field_name, field in Settings.model_fields.items():
        if field_name == "signing_key_file":
            continue  # a file path, not a secret
        if re.search(r"secret|_key$|password", field_name):
            names.add(field.validation_alias)
    # Read by the libraries themselves, not through Settings.
    names |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for path in (ROOT / "shared").rglob("*.py"):
        names |= set(re.findall(r"os\.environ\.get\(\"([A-Z_]+_KEY)\"", path.read_text()))
    return names


def test_every_secret_the_settings_read_is_bound(plan: list[list[str]]) -> None:
    wanted = _secret_variables()
    assert {"RELAY_CALLBACK_SECRET", "STRIPE_WEBHOOK_SECRET", "OPENAI_API_KEY"} <= wanted
    for (command,) in _deploys(plan).values():
        bound = dict(p.split("=", 1) for p in _flags(command)["--set-secrets"].split(","))
        assert set(bound) == wanted
        for secret in bound.values():
            name, _, version = secret.partition(":")
            assert version == "latest"
            assert ["gcloud", "secrets", "add-iam-policy-binding", name] in [c[:4] for c in plan]


def test_monitoring_is_applied(plan: list[list[str]]) -> None:
    monitoring = ROOT / "infra" / "monitoring"
    metrics = {p.stem: json.loads(p.read_text()) for p in (monitoring / "metrics").glob("*.json")}
    policies = {p: json.loads(p.read_text()) for p in (monitoring / "policies").glob("*.json")}
    for name, body in metrics.items():
        assert body["name"] == name and body["filter"]
        assert ["gcloud", "logging", "metrics", "create", name] in [c[:5] for c in plan]
    for path, body in policies.items():
        assert [
            "gcloud",
            "alpha",
            "monitoring",
            "policies",
            "create",
            f"--policy-from-file={path.relative_to(ROOT)}",
        ] in [c[:6] for c in plan]
        for condition in body["conditions"]:
            spec = condition.get("conditionThreshold") or condition["conditionAbsent"]
            for used in re.findall(r"logging\.googleapis\.com/user/(\w+)", spec["filter"]):
                assert used in metrics, (path.name, used)
    text = json.dumps(list(policies.values()))
    for subject in (
        "relay_jobs_failed",
        "relay_sweep_runs",  # sweep lag: no successful sweep
        "relay_webhooks_gave_up",
        "relay_ledger_check_failures",
        'response_code_class=\\"5xx\\"',
    ):
        assert subject in text, subject
    assert any("conditionAbsent" in c for p in policies.values() for c in p["conditions"])


def test_requirements_are_the_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    required = [line for line in lines if line.strip() and not line.startswith("#")]
    assert required == project["dependencies"]
    names = {re.split(r"[\[<>=~!; ]", req, maxsplit=1)[0].lower() for req in required}
    assert not names & NOT_RUNTIME
    assert {"local", "dev", "gpu"} <= set(project["optional-dependencies"])
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[gpu,local,dev]'" in makefile  # the test venv still gets everything


def test_gcloudignore_keeps_tests_gpu_and_local_code_out() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".gcloudignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ("tests/", "gpu_handlers/", "infra/", "bench/", ".venv/", "node_modules/"):
        assert path in rules
    assert "docs/*" in rules and "!docs/api/" in rules  # market_docs serves the API document
    assert (ROOT / "docs" / "api" / "market.openapi.yaml").exists()
    for kept in ("main.py", "functions/", "shared/", "requirements.txt"):
        assert kept not in rules


def test_main_imports_no_test_local_or_gpu_module() -> None:
    banned = [
        "moto",
        "gcp_storage_emulator",
        "aiosmtpd",
        "pytest",
        "torch",
        "diffusers",
        "transformers",
        "runpod",
        "infra",
        "tests",
        "gpu_handlers",
        "typer",
    ]
    code = (
        "import main, sys, json; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {banned!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_deploy_runs_exactly_the_plan(tmp_path: Path) -> None:
    """With tools that find nothing there yet (but the secrets), a deploy's calls are the
    plan's lines."""
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcloud", "firebase"):
        fake = bin_dir / tool
        fake.write_text(
            "#!/bin/sh\n"
            f'{{ printf %s {tool}; for a in "$@"; do printf \'\\037%s\' "$a"; done; echo; }}'
            f" >> '{log}'\n"
            'case " $* " in *" describe "*) [ "$1" = secrets ] || exit 1 ;; esac\n'
        )
        fake.chmod(0o755)
    settings = {
        name: f"<{name}>"
        for name in [
            "PROJECT",
            "RELAY_RUNPOD_ENDPOINTS",
            "RELAY_PUBLIC_URL",
            "RELAY_S3_BUCKET",
            "RELAY_MEDIA_PUBLIC_URL",
            "RELAY_X402_PAY_TO",
            "RELAY_X402_FACILITATOR_URL",
            "RELAY_SMTP_HOST",
            "RELAY_SMTP_USERNAME",
            "RELAY_MAIL_FROM",
            "RELAY_GOOGLE_CLIENT_IDS",
        ]
    }
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        **settings,
    }
    deploy = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert deploy.returncode == 0, deploy.stderr
    called = [line.split("\x1f") for line in log.read_text().splitlines()]
    log.unlink()
    planned = subprocess.run(
        ["bash", str(SCRIPT), "--plan"], env=env, capture_output=True, text=True, timeout=60
    )
    assert planned.returncode == 0 and not log.exists()
    assert called == [shlex.split(line) for line in planned.stdout.splitlines()]

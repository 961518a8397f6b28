# Relay: `make dev` runs the whole local stack, `make test` the whole suite.
# Both install what they need first; `make install` alone is a quick no-op when nothing changed.
PY    := .venv/bin/python
STAMP := .local/stamps

.PHONY: install dev test lint bench
install: $(STAMP)/system $(STAMP)/venv $(STAMP)/tasks-venv $(STAMP)/npm .local/signing-sa.json $(STAMP)/models

$(STAMP)/system: infra/local/install-system.sh
	bash infra/local/install-system.sh
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/venv: pyproject.toml $(STAMP)/system
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[gpu,local,dev]'
	@mkdir -p $(STAMP) && touch $@

# The Cloud Tasks emulator needs protobuf < 5: it lives in its own venv.
$(STAMP)/tasks-venv: $(STAMP)/system
	test -x .tasks-venv/bin/python || python3 -m venv .tasks-venv
	.tasks-venv/bin/pip install -q gcloud-tasks-emulator==0.6.2
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/npm: package.json package-lock.json $(STAMP)/system
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMP) && touch $@

.local/signing-sa.json: $(STAMP)/venv
	$(PY) -m infra.local.signing_key $@

$(STAMP)/models: $(STAMP)/venv gpu_handlers/tiny_models.py gpu_handlers/runtimes/grid/tiny_llm.py $(wildcard gpu_handlers/*/tiny.py)
	$(PY) -m gpu_handlers.tiny_models --out .local/models
	$(PY) -m gpu_handlers.runtimes.grid.tiny_llm --out .local/models
	@mkdir -p $(STAMP) && touch $@

dev: install
	$(PY) -m infra.local.stack dev

test: install
	$(PY) -m pytest

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy shared --ignore-missing-imports

# Every benchmark, one after another (each starts its own stack on free ports); each ends
# with its ratio line. The library list runs at 2,000 models here (10,000 by hand: see
# docs/benchmarks.md), so the whole run stays near ten minutes on the 2-core box.
bench: install
	$(PY) bench/submit.py
	$(PY) bench/topup.py
	$(PY) bench/grid_claim.py
	$(PY) bench/e2e.py
	$(PY) bench/media.py --runs 3
	$(PY) bench/library_list.py --models 2000 --rounds 3

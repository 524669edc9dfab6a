# The two commands that matter: `make dev` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PY := .venv/bin/python
WITH_EMULATORS := scripts/with-emulators
export PYTHONPATH := $(CURDIR)/scripts

.PHONY: dev test setup lint unit emulator-tests provider-matrix bench mutate clean

setup:
	@scripts/setup

dev:
	@$(WITH_EMULATORS) $(PY) scripts/dev_session.py

test: setup lint unit emulator-tests provider-matrix

lint:
	.venv/bin/ruff check functions tests scripts bench
	.venv/bin/ruff format --check functions tests scripts bench
	.venv/bin/mypy

unit:
	.venv/bin/pytest -q tests/unit

emulator-tests:
	$(WITH_EMULATORS) scripts/emulator-tests

# The real callable once per provider (jitsi, jaas, livekit, twilio, zoom), each deployed with its own params.
provider-matrix:
	$(PY) scripts/provider_matrix.py

# Mutation testing of functions/telehealth and main.py against tests/unit (not part of make test).
mutate: setup
	$(PY) scripts/mutate.py

bench:
	$(WITH_EMULATORS) --config firebase.bench.json $(PY) scripts/bench.py

clean:
	rm -rf .cache .venv functions/venv node_modules

# The real-Prosody interop tier (not part of make test): Debian's Prosody with jitsi-meet's own plugins from
# JITSI_PROSODY_PLUGINS (jitsi-meet resources/prosody-plugins at 347cc32; CI: ../shared/jitsi-prosody), against
# the backend's join tokens and end-meeting code. Says SKIPPED without the plugins. docs/jitsi-prosody.md.
# PROSODY_TIER_ARGS=--trigger adds the real trigger on the Firebase emulators (ports 9299/8280/5201/4420/4520).
.PHONY: prosody-tier
prosody-tier: setup
	tests/prosody/run $(PROSODY_TIER_ARGS)

# The commands that matter: `make check` (lint + unit tests, the inner loop), `make test` (everything CI runs)
# and `make dev`. Everything else is a step of those. docs/testing.md describes the tiers and how to run one test.
SHELL := /bin/bash
PY := .venv/bin/python
WITH_EMULATORS := scripts/with-emulators
# The emulator client lives in tests/support; it stays importable as plain `import emulator_api` (other
# branches import it so), next to the clinic command and the demo helpers in scripts/.
export PYTHONPATH := $(CURDIR)/scripts:$(CURDIR)/tests/support

.PHONY: check dev test setup setup-python lint unit lint-and-unit suites emulator-tests provider-matrix bench mutate clean

# Lint and unit tests only: needs .venv and nothing else (no npm, no Java, no emulator). Under a minute.
# Lint and unit tests run side by side; each one's output is printed whole when it ends.
check: setup-python
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint unit

setup:
	@scripts/setup

setup-python:
	@scripts/setup python

dev:
	@$(WITH_EMULATORS) $(PY) scripts/dev_session.py

# After the set-up, lint + unit (on idle CPU only) beside the three suites, which run side by side: each has emulator ports of its own
# (tests/unit/test_emulator_suite_config.py checks they share none), functions discovery takes a
# machine-wide lock, each suite's CLI has its own TMPDIR, and its Python function processes a window of
# ports of their own (scripts/worker_ports.cjs).
# Each target's output is printed whole when it ends. Fails if any fails.
# `make suites` runs the three one after the other instead (easier to follow; several minutes longer).
test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target nice-lint-and-unit suites-at-once

# (Under make test's -j4: the three suites take three of its four job slots.) Starts queue for the discovery
# lock; the emulator tests start first, then the matrix, then the short Prosody tier.
.PHONY: suites-at-once matrix-after-emulators prosody-after-matrix
suites-at-once: setup
	@$(MAKE) --no-print-directory --output-sync=target emulator-tests matrix-after-emulators prosody-after-matrix

matrix-after-emulators:
	@EMULATORS_START_AFTER=emulators $(MAKE) --no-print-directory provider-matrix

prosody-after-matrix:
	@EMULATORS_START_AFTER=emulators,emulators-matrix $(MAKE) --no-print-directory prosody-trigger

lint-and-unit: lint
	@$(MAKE) --no-print-directory unit

# After the whole set-up, not only .venv: some unit tests run the pinned CLI's JS from node_modules, and
# beside npm ci they met a half-written firebase-tools ("Cannot find module '../logger'").
# SCHED_IDLE (chrt --idle): lint and unit get only the CPU the suites leave idle. The suites wait on the
# emulators most of the time, so lint and unit still end first; at nice 10 they took enough CPU to make the
# emulator tests 90 s longer (docs/testing.md, "Measured"). nice 10 where the scheduler refuses SCHED_IDLE.
.PHONY: nice-lint-and-unit
nice-lint-and-unit: setup
	@if chrt --idle 0 true 2>/dev/null; then low="chrt --idle 0"; else low="nice -n 10"; fi; \
	$$low $(MAKE) --no-print-directory lint-and-unit

# The three suites, one after the other.
suites:
	$(EMULATOR_TESTS)
	$(PROVIDER_MATRIX)
	tests/prosody/run --trigger

.PHONY: prosody-trigger
prosody-trigger:
	tests/prosody/run --trigger

lint:
	.venv/bin/ruff check functions tests scripts bench
	.venv/bin/ruff format --check functions tests scripts bench
	.venv/bin/mypy

unit:
	.venv/bin/pytest -q -p no:cacheprovider tests/unit

EMULATOR_TESTS := $(WITH_EMULATORS) scripts/emulator-tests
emulator-tests:
	$(EMULATOR_TESTS)

# The real functions once per provider run (jitsi, jaas, livekit, livekit-rooms, twilio, zoom, enablex, vonage) and
# waiting-room mode (admit, off, weak-secret), each deployed with its own params, under one start of the emulator
# suite (see tests/matrix/provider_matrix.py).
PROVIDER_MATRIX := $(PY) tests/matrix/provider_matrix.py
provider-matrix:
	$(PROVIDER_MATRIX)

# Mutation testing of functions/telehealth and main.py against tests/unit (not part of make test).
mutate: setup
	$(PY) bench/mutate.py

# Figures, not pass/fail: writes docs/benchmarks.md (the generated figures page), artifacts/bench.json and
# artifacts/load.png. Not part of make test.
bench: setup
	$(WITH_EMULATORS) --config firebase.bench.json $(PY) bench/bench.py

clean:
	rm -rf .cache .venv functions/venv node_modules artifacts clients/web/dist

# The real-Prosody interop tier (make test runs it with --trigger): Debian's Prosody with jitsi-meet's own plugins from
# JITSI_PROSODY_PLUGINS (jitsi-meet resources/prosody-plugins at 347cc32; CI: ../shared/jitsi-prosody), against
# the backend's join tokens and end-meeting code. Says SKIPPED without the plugins. docs/jitsi-prosody.md.
# PROSODY_TIER_ARGS=--trigger adds the real trigger on the Firebase emulators (ports 9299/8070/5201/4420/4520).
.PHONY: prosody-tier
prosody-tier: setup
	tests/prosody/run $(PROSODY_TIER_ARGS)

# make test runs the tier (in its suites, with --trigger) where the plugins are there; it says SKIPPED otherwise.

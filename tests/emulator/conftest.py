"""Fixtures for tests that run against the emulator suite (only under scripts/with-emulators; see docs/testing.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import emulator_api as emu
import pytest
from google.cloud import firestore

if "FIRESTORE_EMULATOR_HOST" not in os.environ or "FUNCTIONS_EMULATOR_HOST" not in os.environ:
    pytest.exit("emulator tests run under the suite: scripts/with-emulators .venv/bin/pytest tests/emulator", 2)


@pytest.fixture(autouse=True, scope="module")
def triggers_delivered_after_pauses() -> Iterator[None]:
    """After a module that paused triggers, their held events are delivered before the next module starts
    (the Firestore emulator delivers them late, and newer events queue behind them: see
    emulator_api.wait_for_trigger_delivery)."""
    yield
    emu.settle_after_pauses()


@pytest.fixture
def db() -> firestore.Client:
    """A clean Firestore and Auth emulator, and an admin client.

    No trigger run of an earlier test may still be running when the data goes: its late write would land in
    this test's emulator (and a run counted by this test).
    """
    emu.wait_for_no_running_trigger()
    emu.wait_for_no_running_trigger("sendVisitReminder")
    emu.reset()
    return emu.admin_db()


@pytest.fixture
def people(db: firestore.Client) -> dict[str, emu.User]:
    """A clinic doctor (claim and directory entry), a patient, a stranger (all in the Auth emulator)."""
    return {
        "doctor": emu.make_doctor("doctor@test.example", "doctor-pass-1", "Dr. Who"),
        "patient": emu.sign_up("patient@test.example", "patient-pass-1"),
        "stranger": emu.sign_up("stranger@test.example", "stranger-pass-1"),
    }


# What only the reminder task writes (tests/emulator/test_reminders.py): the Cloud Tasks emulator runs a task
# as soon as it is queued, so a visit confirmed more than VIDEO_REMINDERS_MIN ahead gets these written while
# a test looks at something else. No callable writes them (in-app notifications are in subcollections,
# which this never lists).
REMINDER_OUTPUTS = ("mail", "videoNotificationLog")


def all_documents(db: firestore.Client) -> dict[str, dict[str, Any]]:
    """Every document in every top-level collection but the reminder task's, by path (to prove what was, or
    was not, written)."""
    found: dict[str, dict[str, Any]] = {}
    for collection in db.collections():
        if collection.id in REMINDER_OUTPUTS:
            continue
        for snapshot in collection.stream():
            found[snapshot.reference.path] = snapshot.to_dict() or {}
    return found

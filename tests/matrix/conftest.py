"""The provider matrix runs only under tests/matrix/provider_matrix.py, which says which provider is deployed."""

from __future__ import annotations

import os

import emulator_api as emu
import pytest
from google.cloud import firestore

if "MATRIX_PROVIDER" not in os.environ or "FUNCTIONS_EMULATOR_HOST" not in os.environ:
    pytest.exit("the provider matrix runs under make provider-matrix (tests/matrix/provider_matrix.py)", 2)


@pytest.fixture
def db() -> firestore.Client:
    """A clean Firestore and Auth emulator (no trigger run of an earlier test still running), and an admin client."""
    emu.wait_for_no_running_trigger()
    emu.reset()
    return emu.admin_db()


@pytest.fixture
def people(db: firestore.Client) -> dict[str, emu.User]:
    """A clinic doctor (claim and directory entry) and a patient."""
    return {
        "doctor": emu.make_doctor("matrix-doctor@test.example", "matrix-pass-1", "Dr. Matrix"),
        "patient": emu.sign_up("matrix-patient@test.example", "matrix-pass-1"),
    }

"""The deploy files say what the README promises: the audit TTL policy and the sweep's indexes, valid for the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "firestore.indexes.json").read_text())


@pytest.mark.parametrize("log", ["videoAccessLog", "videoNotificationLog"])
def test_the_audit_logs_have_a_ttl_policy_on_expire_at_and_no_index_on_it(log: str) -> None:
    assert {
        "collectionGroup": log,
        "fieldPath": "expireAt",
        "ttl": True,
        "indexes": [],
    } in SPEC["fieldOverrides"]


def test_invitation_lookups_have_a_ttl_policy_on_expire_at_and_no_index_on_it() -> None:
    assert {"collectionGroup": "guestInvites", "fieldPath": "expireAt", "ttl": True, "indexes": []} in SPEC[
        "fieldOverrides"
    ]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(["status", "type", "startTime"], id="confirmed video visits by start"),
        pytest.param(["status", "video.roomName"], id="rooms on pending or cancelled visits"),
        pytest.param(["type", "video.roomName"], id="rooms on in-person visits"),
    ],
)
def test_the_repair_sweeps_queries_have_their_composite_indexes(fields: list[str]) -> None:
    declared = [[f["fieldPath"] for f in index["fields"]] for index in SPEC["indexes"]]
    assert fields in declared


@pytest.mark.skipif(not (ROOT / "node_modules" / "firebase-tools").is_dir(), reason="npm ci has not run")
def test_the_pinned_firebase_cli_accepts_the_index_file() -> None:
    script = (
        'const {FirestoreApi} = require("./node_modules/firebase-tools/lib/firestore/api.js");'
        'new FirestoreApi().validateSpec(require("./firestore.indexes.json")); console.log("valid");'
    )
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run([node, "-e", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    assert result.stdout.strip() == "valid", result.stderr

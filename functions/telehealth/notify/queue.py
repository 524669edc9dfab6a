"""The reminder queue in production: firebase-admin's task queue (``functions.task_queue``), which also
honours ``CLOUD_TASKS_EMULATOR_HOST`` (the local Cloud Tasks emulator).

Cloud Tasks answers a task id it has seen (queued, or run or deleted within about an hour) with
ALREADY_EXISTS, the emulator with HTTP 409: both mean the task is scheduled already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


class AdminTaskQueue:
    """Tasks for one task-queue function, by its short name (the emulator matches no other form)."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def enqueue(self, payload: Mapping[str, Any], task_id: str, send_at: int | None) -> bool:
        """One task, its body wrapped as a callable's (``{"data": ...}``, what task-queue functions read)."""
        from firebase_admin import exceptions, functions

        when = dt.datetime.fromtimestamp(send_at, dt.UTC) if send_at is not None else None
        options = functions.TaskOptions(task_id=task_id, schedule_time=when)
        try:
            functions.task_queue(self.function_name).enqueue({"data": dict(payload)}, options)
        except (exceptions.AlreadyExistsError, exceptions.ConflictError):
            return False
        return True

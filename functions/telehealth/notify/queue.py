"""The reminder queue in production: firebase-admin's task queue (``functions.task_queue``), which also
honours ``CLOUD_TASKS_EMULATOR_HOST`` (the local Cloud Tasks emulator).

Cloud Tasks answers a task id it has seen (queued, or run or deleted within about an hour) with
ALREADY_EXISTS, the emulator with HTTP 409: both mean the task is scheduled already.

firebase-admin 7.7 cannot read the emulator's answer to a task with an id: it drops the first
character of the returned name, expecting the ``/`` the emulator puts before names it makes itself,
but the emulator returns a given name as it was sent, and the SDK then raises ``ValueError("Invalid
resource name format.")`` after the task was queued. Against the emulator only, that error is taken
for what it is: the task is queued.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

EMULATOR_HOST = "CLOUD_TASKS_EMULATOR_HOST"
MISREAD_NAME = "Invalid resource name format."


class AdminTaskQueue:
    """Tasks for one task-queue function, by its short name (the emulator matches no other form)."""

    def __init__(self, function_name: str, app: Any = None) -> None:
        self.function_name, self.app = function_name, app

    def enqueue(self, payload: Mapping[str, Any], task_id: str, send_at: int | None) -> bool:
        """One task, its body wrapped as a callable's (``{"data": ...}``, what task-queue functions read)."""
        from firebase_admin import exceptions, functions

        when = dt.datetime.fromtimestamp(send_at, dt.UTC) if send_at is not None else None
        options = functions.TaskOptions(task_id=task_id, schedule_time=when)
        try:
            functions.task_queue(self.function_name, app=self.app).enqueue({"data": dict(payload)}, options)
        except (exceptions.AlreadyExistsError, exceptions.ConflictError):
            return False
        except ValueError as error:
            if not (os.environ.get(EMULATOR_HOST) and str(error) == MISREAD_NAME):
                raise
        return True

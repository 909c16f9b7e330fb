"""The toy task of ``toy_task.py`` under the task name ``toy``, for every engine test.

Task names come from the fixed ``edgepose.engine.task.TASK_TABLE`` (a config file cannot import a module of its
choosing), so the tests add theirs to the table for the duration of each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgepose.engine.task import TASK_TABLE

TOY_TASK = ("toy", "toy_task:ToyTask")


@pytest.fixture(autouse=True)
def toy_task_name() -> Iterator[str]:
    """Register ``task: toy`` for one test; returns the name. A private patcher, so a test's own
    ``monkeypatch.undo()`` (crash simulations) does not unregister it."""
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setitem(TASK_TABLE, *TOY_TASK)
        yield TOY_TASK[0]

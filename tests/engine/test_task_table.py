"""Task names come from a fixed table: a config file names a task, it cannot make edgepose import a module."""

from __future__ import annotations

import sys

import pytest

from edgepose.engine.config import experiment_from_dict
from edgepose.engine.task import TASK_TABLE, task_class, task_target
from edgepose.errors import ConfigError


def test_the_table_names_the_package_tasks():
    assert {"topdown", "bottomup", "classification"} <= set(TASK_TABLE)
    assert task_target("topdown") == "edgepose.engine.topdown:TopdownTask"
    # the full spelling of a known task (older pretraining configs) is the same task, not an import request
    assert task_target(TASK_TABLE["classification"]) == TASK_TABLE["classification"]


@pytest.mark.parametrize("name", ["os:system", "json:JSONDecoder", "nosuchmodule:Task", "Topdown", "", 3, None])
def test_other_names_are_refused_without_importing_anything(name, monkeypatch):
    monkeypatch.delitem(sys.modules, "nosuchmodule", raising=False)
    assert task_target(name) is None
    if isinstance(name, str):
        with pytest.raises(ConfigError, match="unknown task"):
            task_class(name)
    assert "nosuchmodule" not in sys.modules
    with pytest.raises(ConfigError, match="'task'"):
        experiment_from_dict({"name": "t", "task": name, "model": {"name": "lpn50"}})


def test_a_registered_name_resolves_lazily(toy_task_name):
    """tests/engine/conftest.py adds ``toy`` for each test, the way a Python user adds a task of their own."""
    cls = task_class(toy_task_name)
    assert cls.__name__ == "ToyTask"
    cfg = experiment_from_dict({"name": "t", "task": toy_task_name, "model": {"name": "toy"}})
    assert cfg.task == "toy"


def test_a_broken_table_row_is_a_config_error(monkeypatch):
    monkeypatch.setitem(TASK_TABLE, "broken", "edgepose.engine.task:NoSuchTask")
    with pytest.raises(ConfigError, match="broken.*NoSuchTask"):
        task_class("broken")

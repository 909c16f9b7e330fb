"""``python -m toy_main ...`` = ``edgepose ...`` with the toy task registered (for subprocess tests: torchrun).

A subprocess does not see the ``monkeypatch`` of ``conftest.py``; this entry point adds the same table row.
"""

from __future__ import annotations

import sys

from edgepose.cli.main import exit_now_under_torchrun, main
from edgepose.engine.task import TASK_TABLE

TASK_TABLE["toy"] = "toy_task:ToyTask"

if __name__ == "__main__":
    code = main()
    exit_now_under_torchrun(code)  # as edgepose.cli.main does
    sys.exit(code)

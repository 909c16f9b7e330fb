"""``python -m edgepose`` is the ``edgepose`` command."""

import sys

from edgepose.cli.main import exit_now_under_torchrun, main

code = main()
exit_now_under_torchrun(code)
sys.exit(code)

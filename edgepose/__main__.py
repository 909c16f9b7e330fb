"""``python -m edgepose`` is the ``edgepose`` command."""

import sys

from edgepose.cli.main import main

sys.exit(main())

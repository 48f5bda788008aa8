"""``python -m scripts COMMAND ...``: the same as the ``agent-gym`` command (see :mod:`scripts.cli`)."""

import sys

from scripts.cli import main

sys.exit(main())

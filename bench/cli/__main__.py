"""``python -m ucdbench.cli``: the ``ucdbench`` command, where the console script is not on PATH."""

import sys

from ucdbench.cli import main

sys.exit(main())

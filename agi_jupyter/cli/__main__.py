"""``python -m agi_jupyter.cli``: the same ``main`` as the ``agi-jupyter`` console script.

The package is imported under its own name first, so its loggers are ``agi_jupyter.cli.*`` (a
``__main__`` logger would escape ``--verbose`` and ``--debug``).
"""

from __future__ import annotations

import sys

from agi_jupyter.cli import main

sys.exit(main())

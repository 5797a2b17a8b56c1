"""``python -m zoo.cli ...``: the ``zoo`` command without the installed console script."""

import sys

from zoo.cli import main

sys.exit(main())

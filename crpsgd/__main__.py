"""``python -m crpsgd``: the same as the ``crpsgd`` console script."""

import sys

from crpsgd.cli import main

sys.exit(main())

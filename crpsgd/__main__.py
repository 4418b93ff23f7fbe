"""``python -m crpsgd``: the same as the ``crpsgd`` console script."""

import sys

from crpsgd.cli.app import main

sys.exit(main())

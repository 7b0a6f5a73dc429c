"""``python -m stemweave``."""

import sys

from stemweave.cli import main

sys.exit(main())

"""``python -m wscheck`` is the ``wscheck`` command."""

import sys

from wscheck.cli import main

sys.exit(main())

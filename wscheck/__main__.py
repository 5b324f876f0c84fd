"""``python -m wscheck`` is the ``wscheck`` command."""

import sys

from wscheck.cli.main import main

sys.exit(main())

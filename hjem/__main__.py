"""``python -m hjem`` is the ``hjem`` command."""

import sys

from hjem.cli import main

sys.exit(main())

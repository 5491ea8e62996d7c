"""``python -m fusedstab`` = the ``fusedstab`` command."""

import sys

from .cli import main

sys.exit(main())

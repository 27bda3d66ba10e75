"""Entry point of ``python -m convcost`` (the same CLI as the ``convcost`` command)."""

import sys

from .cli import main

sys.exit(main())

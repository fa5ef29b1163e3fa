"""``python -m fastzdc ARGS`` runs the command line (what ``torchrun -m fastzdc train ...`` needs)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

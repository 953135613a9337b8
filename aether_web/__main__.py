"""`python -m aether_web <command>`."""

import sys

from aether_web.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m workbench.cli`: what the server's jobs and the kernel magics start."""

import sys

from workbench.cli import main

sys.exit(main())

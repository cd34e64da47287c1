"""`python -m dawm ...`: the same as the `dawm` command."""

import sys

from dawm.cli import main

sys.exit(main())

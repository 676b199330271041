"""``python -m benchmarks.security``: run the security benchmark."""

import sys

from .run import main

sys.exit(main())

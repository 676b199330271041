"""``python -m benchmarks.reliability``: run the reliability benchmark."""

import sys

from .run import main

sys.exit(main())

"""``python -m benchmarks`` runs the suite; see benchmarks/run.py for the options."""

import sys

from benchmarks.run import main

sys.exit(main())

"""Entry point of one side's subprocess: ``python -m benchmarks._worker MODULE FUNC JSON_KWARGS``.

Imports ``benchmarks.MODULE``, calls ``FUNC(**kwargs)`` and prints its dict as one marked JSON line, so that
whatever else the library prints on stdout cannot be mistaken for the result.
"""

from __future__ import annotations

import importlib
import json
import sys

from benchmarks.common import RESULT_MARKER


def main(argv: list[str]) -> int:
    module, func, kwargs = argv[0], argv[1], json.loads(argv[2])
    result = getattr(importlib.import_module(f"benchmarks.{module}"), func)(**kwargs)
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

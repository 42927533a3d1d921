"""Which cases of a parametrized matrix run in the inner loop (``-m "not slow"``).

The inner loop keeps one case per behaviour; the full suite runs the matrix. A case moved out of the inner
loop keeps its id and its assertions: it is only marked ``slow``.
"""

from __future__ import annotations

import pytest

ParameterSet = type(pytest.param(None))  # what pytest.param returns (pytest's own module is private)


def slow_case(case, *, single: bool = True):
    """``case`` (a value, a tuple of values, or a ``pytest.param``) marked slow, id unchanged."""
    if isinstance(case, ParameterSet):
        return pytest.param(*case.values, id=case.id, marks=[*case.marks, pytest.mark.slow])
    values = (case,) if single else tuple(case)
    return pytest.param(*values, marks=pytest.mark.slow)


"""Which cases of a parametrized matrix run in the inner loop (``-m "not slow"``).

The inner loop keeps one case per behaviour; the full suite runs the matrix. A case moved out of the inner
loop keeps its id and its assertions: it is only marked ``slow``.
"""

from __future__ import annotations

from typing import Iterable

import pytest
from _pytest.mark.structures import ParameterSet


def slow_case(case, *, single: bool = True):
    """``case`` (a value, a tuple of values, or a ``pytest.param``) marked slow, id unchanged."""
    if isinstance(case, ParameterSet):
        return pytest.param(*case.values, id=case.id, marks=[*case.marks, pytest.mark.slow])
    values = (case,) if single else tuple(case)
    return pytest.param(*values, marks=pytest.mark.slow)


def inner_loop_keeps(cases: Iterable, fast: Iterable[int], *, single: bool = True) -> list:
    """``cases`` with every one whose index is not in ``fast`` marked slow.

    ``single``: each case is one argument's value (else a tuple of the arguments' values).
    """
    keep = set(fast)
    return [case if index in keep else slow_case(case, single=single) for index, case in enumerate(cases)]

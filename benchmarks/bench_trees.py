"""The fast tree walk (duckml/scoring/forest.py) against scikit-learn's own ``predict``, on one core.

Workload: forests fitted on 20,000 rows of 20 normal floats (5,000 at the quick scale), a regression target of
five features plus noise (a label for the classifier), then 65,536 new rows (one ``duckml.spark.predict`` /
``duckml.predict`` batch) scored as a float64 ndarray by
- duckml: ``FastTrees.score`` (the cast to float32, the walk, the leaf values added in tree order);
- baseline: the model's own ``predict`` (``n_jobs=1``: one core, as a Spark task or one DuckDB thread has).
Each side runs ``REPEATS`` times, taking turns, after one untimed call (numba's compile); the best time is
reported as rows/s. Every pair of predictions is checked to be identical, bit for bit, before it is timed.

Standalone: ``python benchmarks/bench_trees.py [--quick]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/bench_trees.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCORED_ROWS = 65_536
TRAIN_ROWS, QUICK_TRAIN_ROWS = 20_000, 5_000
REPEATS = 5
# (family, trees, depth): None grows the trees fully
FULL = [("regressor", 50, 6), ("regressor", 50, 10), ("regressor", 50, None), ("classifier", 50, 10)]
QUICK = [("regressor", 10, 6), ("classifier", 10, 6)]


def measure(family: str, trees: int, depth: int | None, train_rows: int, repeats: int = REPEATS) -> dict:
    """{"walk": rows/s, "sklearn": rows/s, "nodes": n, "max_depth": d} of one forest."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from duckml.scoring import forest

    rng = np.random.default_rng(0)
    X = rng.normal(size=(train_rows, 20))
    target = X[:, :5].sum(axis=1) + rng.normal(size=train_rows)
    cls = RandomForestClassifier if family == "classifier" else RandomForestRegressor
    model = cls(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1)
    model.fit(X, target > 0 if family == "classifier" else target)
    scored = rng.normal(size=(SCORED_ROWS, 20))
    fast = forest.fast_trees(model)
    walked = fast.score(scored, proba=False)
    if walked is None:
        raise RuntimeError("the fast walk is off (DUCKML_FAST_TREES=0 or numba missing)")
    if not np.array_equal(walked, model.predict(scored)):
        raise AssertionError(f"the walk's predictions differ from scikit-learn's for {family} {trees}x{depth}")
    best = {"walk": float("inf"), "sklearn": float("inf")}
    for _ in range(repeats):
        for side, call in (("walk", lambda: fast.score(scored, proba=False)), ("sklearn", lambda: model.predict(scored))):
            t0 = time.perf_counter()
            call()
            best[side] = min(best[side], time.perf_counter() - t0)
    return {"walk": SCORED_ROWS / best["walk"], "sklearn": SCORED_ROWS / best["sklearn"],
            "nodes": sum(e.tree_.node_count for e in model.estimators_),
            "max_depth": max(e.tree_.max_depth for e in model.estimators_)}


def run(scale: str | int | float) -> list[dict]:
    """Rows for ``python -m benchmarks``: one per forest, the walk's rows/s against scikit-learn's."""
    from benchmarks import common

    quick = scale == "quick"
    rows = []
    for family, trees, depth in QUICK if quick else FULL:
        got = measure(family, trees, depth, QUICK_TRAIN_ROWS if quick else TRAIN_ROWS)
        rows.append(common.row(
            f"tree walk: RandomForest{family.capitalize()} {trees} trees x depth {depth or 'full'} "
            f"({got['nodes']:,} nodes, deepest {got['max_depth']}), {SCORED_ROWS:,} rows",
            got["walk"], got["sklearn"], "rows/s", f"one core, best of {REPEATS}; predictions identical",
            "scikit-learn predict"))
    return rows


def main(argv: list[str]) -> int:
    for r in run("quick" if "--quick" in argv else "full"):
        print(f"{r['workload']}: walk {r['duckml']:,.0f} rows/s, scikit-learn {r['baseline']:,.0f} rows/s, "
              f"{r['ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Run duckml's benchmark suite against MLflow and print, save and tabulate the results.

Usage::

    python -m benchmarks [--quick] [--only NAME ...] [--json OUT.json] [--markdown OUT.md]
                         [--mlflow-python PATH | --no-mlflow]

Without ``--json``/``--markdown`` the results go to ``benchmarks/results/latest.json`` and ``latest.md``.
MLflow is looked for in ``--mlflow-python``, then ``$DUCKML_BENCH_MLFLOW_PYTHON``, then this interpreter; when it
is missing the table says so and duckml's side still runs.

>>> _fmt(1234.5), _fmt(0.01234), _fmt_ratio(512.3)
('1,234', '0.0123', '512×')
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py` from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

WORKLOADS = ["log_metric", "batch", "sweep", "search", "history", "size", "startup", "concurrency", "predict", "trees", "compile", "ui", "autolog", "lake", "system_metrics"]
# run only when named (--only spark): a Spark local-cluster takes its own minutes and needs Java and pyspark
OPT_IN_WORKLOADS = ["spark"]
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}×" if value >= 100 else f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def _version(dist: str, python: str | None = None) -> str | None:
    if python is None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None
    import subprocess

    proc = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() or None


def machine_info() -> dict:
    """The machine and versions the figures belong to."""
    info = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("duckml", "duckdb", "polars", "pyarrow", "scikit-learn")},
        "mlflow_python": common.SETTINGS.mlflow_python,
        "mlflow": None,
    }
    if common.SETTINGS.mlflow_python:
        py = common.SETTINGS.mlflow_python
        info["mlflow"] = {d: _version(d, py) for d in ("mlflow", "sqlalchemy", "pandas", "numpy", "pyarrow")}
        info["mlflow"]["python"] = _version_python(py)
    else:
        info["mlflow_missing"] = common.SETTINGS.mlflow_missing_reason
    return info


def _version_python(python: str) -> str:
    import subprocess

    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, timeout=60).stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_workloads(names: list[str], scale: str) -> list[dict]:
    """Run each named workload module and collect its rows; a crashing workload becomes one error row."""
    rows = []
    for name in names:
        t0 = time.perf_counter()
        print(f"[bench] {name} ({scale}) ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            got = module.run(scale)
        except ModuleNotFoundError as exc:
            got = [common.row(name, None, None, "", f"workload not available: {exc}")]
        except Exception as exc:  # a broken workload must not hide the others' figures
            got = [common.row(name, None, None, "", f"workload crashed: {type(exc).__name__}: {exc}"[:400])]
        for r in got:
            r.setdefault("baseline_name", "baseline")
            r.setdefault("notes", "")
            r["group"] = name
        rows.extend(got)
        print(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return rows


def _cells(r: dict) -> list[str]:
    baseline = _fmt(r.get("baseline"))
    if r.get("baseline") is None and not common.mlflow_available() and _baseline_label(r).startswith("MLflow"):
        baseline = "no MLflow"
    return [r["workload"], _fmt(r.get("duckml")), baseline, _fmt_ratio(r.get("ratio")),
            r.get("unit") or "", _baseline_label(r), r.get("notes") or ""]


def _baseline_label(r: dict) -> str:
    return (r.get("baseline_name") or "").replace("MLflow 3.17.2 ", "MLflow ")


HEADERS = ["workload", "duckml", "MLflow / baseline", "ratio", "unit", "baseline", "notes"]


def text_table(rows: list[dict]) -> str:
    cells = [HEADERS] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells[:]) if i < 6 else 0 for i in range(7)]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  ".join(c[i].ljust(widths[i]) if i < 6 else c[i] for i in range(7)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths[:6]) + "  -----")
    return "\n".join(lines)


def markdown(rows: list[dict], info: dict, scale: str) -> str:
    ml = info.get("mlflow")
    mlv = (f"MLflow {ml['mlflow']} (SQLAlchemy {ml['sqlalchemy']}, pandas {ml['pandas']})" if ml
           else f"MLflow absent: {info.get('mlflow_missing')}")
    v = info["versions"]
    out = [] if ml else [f"**MLflow baseline NOT measured**: {info.get('mlflow_missing')}", ""]
    out += [
        f"Scale `{scale}`, {info['date']}: {info['cpu_count']} CPUs ({info['cpu']}), {info['platform']}, "
        f"Python {info['python']}; duckml {v['duckml']}, duckdb {v['duckdb']}, polars {v['polars']}; {mlv}.",
        "Ratio = how many times better duckml is (above 1 favours duckml).",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---", "---", "---"]) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small scale for a smoke run (well under a minute)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=WORKLOADS + OPT_IN_WORKLOADS,
                   help="run only these workloads (spark runs only when named)")
    p.add_argument("--json", type=Path, default=None, help="JSON output (default benchmarks/results/latest.json)")
    p.add_argument("--markdown", type=Path, default=None, help="Markdown output (default .../latest.md)")
    p.add_argument("--mlflow-python", default=None, help="a Python interpreter that has mlflow==3.17.2")
    p.add_argument("--no-mlflow", action="store_true", help="skip MLflow even if it is installed")
    p.add_argument("--list", action="store_true", help="list the workload names and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(WORKLOADS))
        return 0
    scale = "quick" if args.quick else "full"
    if args.no_mlflow:
        common.SETTINGS.mlflow_python, common.SETTINGS.mlflow_missing_reason = None, "skipped (--no-mlflow)"
    else:
        python, why = common.find_mlflow_python(args.mlflow_python)
        common.SETTINGS.mlflow_python = python
        common.SETTINGS.mlflow_missing_reason = "" if python else why
        common.SETTINGS.mlflow_version = why if python else None
    if not common.mlflow_available():
        print(f"[bench] MLflow baseline NOT measured: {common.SETTINGS.mlflow_missing_reason}", file=sys.stderr)
    info = machine_info()
    info["scale"] = scale
    t0 = time.perf_counter()
    rows = run_workloads(args.only or WORKLOADS, scale)
    info["elapsed_s"] = round(time.perf_counter() - t0, 1)

    if not common.mlflow_available():
        print(f"MLflow baseline NOT measured: {common.SETTINGS.mlflow_missing_reason}\n")
    print(text_table(rows))
    if not common.mlflow_available():
        print(f"\nMLflow baseline NOT measured: {common.SETTINGS.mlflow_missing_reason}")
    json_path = args.json or RESULTS_DIR / "latest.json"
    md_path = args.markdown or RESULTS_DIR / "latest.md"
    for path in (json_path, md_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"scale": scale, "machine": info, "rows": rows}, indent=2, ensure_ascii=False))
    md_path.write_text(markdown(rows, info, scale), encoding="utf-8")
    print(f"\nwrote {json_path} and {md_path} ({info['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

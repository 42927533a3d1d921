"""Run the MLflow scripts of ``tests/mlflow/scripts/`` with only their import lines changed, as a user would."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"
_IMPORT = re.compile(r"^(\s*)import mlflow(\.[\w.]+)?(\s+as\s+\w+)?\s*$")
_FROM = re.compile(r"^(\s*)from mlflow(\.[\w.]+)? import ")


def as_duckml(source: str) -> str:
    """The script with its imports of mlflow turned into imports of duckml.mlflow, and nothing else changed.

    >>> print(as_duckml("import mlflow\\nfrom mlflow.entities import Metric\\nx = 'import mlflow'"), end="")
    import duckml.mlflow as mlflow
    from duckml.mlflow.entities import Metric
    x = 'import mlflow'
    """
    lines = []
    for line in source.splitlines():
        if match := _IMPORT.match(line):
            indent, sub, alias = match.group(1), match.group(2) or "", match.group(3)
            if sub and not alias:  # "import mlflow.sklearn" binds the name mlflow
                line = f"{indent}import duckml.mlflow as mlflow; import duckml.mlflow{sub}"
            else:
                line = f"{indent}import duckml.mlflow{sub} as {(alias or ' as mlflow').split()[-1]}"
        elif match := _FROM.match(line):
            line = _FROM.sub(lambda m: f"{m.group(1)}from duckml.mlflow{m.group(2) or ''} import ", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_script(name: str, tracking_uri: str) -> str:
    """Run ``scripts/<name>.py`` through duckml.mlflow in this process; what it printed."""
    source = as_duckml((SCRIPTS / f"{name}.py").read_text())
    out = io.StringIO()
    old = os.environ.get("TRACKING_URI")
    os.environ["TRACKING_URI"] = tracking_uri
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, str(SCRIPTS / f"{name}.py"), "exec"), {"__name__": "__main__"})
    finally:
        if old is None:
            os.environ.pop("TRACKING_URI", None)
        else:
            os.environ["TRACKING_URI"] = old
    return out.getvalue()


def expected(name: str) -> str:
    """What the script printed under MLflow 3.17.2 (``scripts/<name>.mlflow.out``)."""
    return (SCRIPTS / f"{name}.mlflow.out").read_text()

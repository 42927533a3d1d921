"""``duckml ui``: a local, read-only web UI over a store (Starlette + Jinja2 + vendored uPlot).

>>> from duckml.ui import create_app
>>> callable(create_app)
True
"""

from duckml.ui.app import create_app

__all__ = ["create_app"]

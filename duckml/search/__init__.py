"""The search layer: MLflow's filter grammar and run searches.

``grammar`` parses ``filter_string`` / ``order_by`` text into a small AST; ``sqlgen`` compiles that AST into
SQL with every value bound; ``queries`` runs the searches (``search_runs``, ``compare_runs``, histories).
"""

from duckml.search.grammar import And, Comparison, Expr, Not, Or, OrderBy, parse_filter, parse_order_by, render_filter
from duckml.search.sqlgen import KeyJoins, compile_filter, compile_order_by

__all__ = ["And", "Comparison", "Expr", "KeyJoins", "Not", "Or", "OrderBy", "compile_filter", "compile_order_by",
           "parse_filter", "parse_order_by", "render_filter"]

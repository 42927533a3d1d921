"""The behaviour every MLflow entity shares: equality by value, ``dict(entity)``, MLflow's repr."""

from __future__ import annotations


class MlflowObject:
    """Entities compare by their properties; ``dict(entity)`` gives them; the repr is MLflow's
    ``<Name: key=value, ...>``.

    >>> from duckml.mlflow.entities import Param
    >>> Param("lr", "0.1"), dict(Param("lr", "0.1"))
    (<Param: key='lr', value='0.1'>, {'key': 'lr', 'value': '0.1'})
    """

    def _properties(self) -> list[str]:
        return sorted(k for k in vars(self) if not k.startswith("_"))

    def __iter__(self):
        for name in self._properties():
            yield name, getattr(self, name)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and dict(self) == dict(other)

    __hash__ = None  # mutable values, as MLflow's

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self)
        return f"<{type(self).__name__}: {shown}>"

"""Model URIs: parsing the forms CONTRACT accepts, and validating registry names. No store access here.

Accepted: ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest``,
``models:/<name>`` (latest), ``runs:/<run_id>/<path>``, and the bare forms ``<name>``, ``<name>/<version>``,
``<name>/latest``, ``<name>@<alias>``. Model names therefore may not contain ``/`` or ``@``, and aliases may
not look like a version (``latest``, ``v3``, ``3``), as in MLflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from duckml.tracking.validation import check_key
from duckml.errors import InvalidInputError, InvalidModelURIError, InvalidNameError

_VERSION_LIKE = re.compile(r"^(v?\d+|latest)$", re.IGNORECASE)
_FORMS = ("models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest, runs:/<run_id>/<path>, "
          "or bare <name>, <name>/<version>, <name>@<alias>")


@dataclass(frozen=True, slots=True)
class ModelURI:
    """A parsed URI. ``kind`` is ``version``, ``alias``, ``latest`` (registry) or ``run``."""

    kind: str
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None

    def render(self) -> str:
        """The canonical URI text.

        >>> parse_model_uri("churn@champion").render()
        'models:/churn@champion'
        """
        if self.kind == "run":
            return f"runs:/{self.run_id}/{self.path}"
        if self.kind == "alias":
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.kind == 'latest' else self.version}"


def check_model_name(name: object) -> str:
    """A registered model name: non-empty printable text without ``/``, ``@`` or ``:``.

    >>> check_model_name("churn-classifier")
    'churn-classifier'
    """
    check_key(name, "model name")  # the rules every duckml name follows: text, printable, at most 250 long
    if name != name.strip():
        raise InvalidNameError(f"model name {name!r} has leading or trailing spaces")
    for bad in "/@:":
        if bad in name:
            raise InvalidNameError(f"model name {name!r} contains {bad!r}, which model URIs use as a separator; "
                                   "use letters, digits, '-', '_', '.' or spaces")
    return name


def check_alias(alias: object) -> str:
    """An alias: a model-name-like text that cannot be mistaken for a version.

    >>> check_alias("champion")
    'champion'
    """
    if not isinstance(alias, str):
        raise InvalidNameError(f"alias must be a string, got {type(alias).__name__} {alias!r}")
    try:
        check_model_name(alias)
    except InvalidNameError as e:
        raise InvalidNameError(str(e).replace("model name", "alias", 1)) from None
    if _VERSION_LIKE.match(alias):
        raise InvalidNameError(f"alias {alias!r} looks like a version ('latest', 'v3', '3' are reserved); "
                               "choose a word such as 'champion'")
    return alias


def check_version(version: object, name: str | None = None) -> int:
    """A version number: a positive int, or its decimal text (MLflow passes versions as strings)."""
    text = str(version).strip() if isinstance(version, (str, int)) and not isinstance(version, bool) else ""
    if not text.isdigit() or int(text) < 1 or int(text) >= 2**31:
        owner = f" of model {name!r}" if name else ""
        raise InvalidInputError(f"version{owner} must be a positive integer such as 3 or '3', got {version!r}")
    return int(text)


def _parse_registry(rest: str, original: str) -> ModelURI:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if "/" in alias or "@" in alias:
            raise InvalidModelURIError(f"model URI {original!r}: alias {alias!r} may not contain '/' or '@'; "
                                       f"accepted forms: {_FORMS}")
        return ModelURI("alias", name=_name_in(name, original), alias=_alias_in(alias, original))
    parts = rest.split("/")
    if len(parts) == 1:
        return ModelURI("latest", name=_name_in(parts[0], original))
    if len(parts) == 2:
        name, version = parts
        if version.lower() == "latest":
            return ModelURI("latest", name=_name_in(name, original))
        if version.isdigit() and 1 <= int(version) < 2**31:
            return ModelURI("version", name=_name_in(name, original), version=int(version))
        raise InvalidModelURIError(f"model URI {original!r}: {version!r} is not a version number or 'latest'; "
                                   f"accepted forms: {_FORMS}")
    raise InvalidModelURIError(f"model URI {original!r} has too many '/' parts; accepted forms: {_FORMS}")


def _name_in(name: str, original: str) -> str:
    try:
        return check_model_name(name)
    except InvalidNameError as e:
        raise InvalidModelURIError(f"model URI {original!r}: {e}") from None


def _alias_in(alias: str, original: str) -> str:
    try:
        return check_alias(alias)
    except InvalidNameError as e:
        raise InvalidModelURIError(f"model URI {original!r}: {e}") from None


def parse_model_uri(uri: object) -> ModelURI:
    """Parse any accepted model URI form; raise InvalidModelURIError naming the URI and the forms.

    >>> parse_model_uri("models:/churn/3")
    ModelURI(kind='version', name='churn', version=3, alias=None, run_id=None, path=None)
    >>> parse_model_uri("runs:/0a1b/model").path
    'model'
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidModelURIError(f"model URI must be a non-empty string, got {uri!r}; accepted forms: {_FORMS}")
    text = uri.strip()
    if text.startswith("runs:"):
        match = re.fullmatch(r"runs:/+([^/]+)/(.+)", text)
        if not match:
            raise InvalidModelURIError(f"model URI {uri!r} needs a run id and an artifact path: "
                                       "runs:/<run_id>/<path>, e.g. runs:/3f2a…/model")
        path = "/".join(p for p in match[2].split("/") if p not in ("", "."))
        if not path or ".." in path.split("/"):
            raise InvalidModelURIError(f"model URI {uri!r} has an empty or '..' artifact path")
        return ModelURI("run", run_id=match[1], path=path)
    if text.startswith("models:"):
        rest = text[len("models:"):].lstrip("/")
        if not rest:
            raise InvalidModelURIError(f"model URI {uri!r} names no model; accepted forms: {_FORMS}")
        return _parse_registry(rest, uri)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text):
        raise InvalidModelURIError(f"model URI {uri!r} has an unknown scheme; accepted forms: {_FORMS}")
    return _parse_registry(text, uri)

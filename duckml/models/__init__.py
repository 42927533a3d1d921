"""The models layer: safe model files and the registry.

``uri`` parses model URIs; ``format`` saves and loads scikit-learn models with skops plus duckml's metadata
and signature; ``trust`` decides which types a model file may build; ``loader`` resolves a URI to a stored
file and loads it through the process's model cache; ``registry`` numbers versions and moves aliases.
"""

from duckml.models.loader import ResolvedModel, load_model, resolve_model_uri
from duckml.models.uri import ModelURI, parse_model_uri

__all__ = ["ModelURI", "ResolvedModel", "load_model", "parse_model_uri", "resolve_model_uri"]

"""Every public name of ``duckml`` documents itself with an example that runs (the doctests run in the suite)."""

import inspect

import duckml


def test_every_public_function_and_class_has_a_runnable_example():
    missing = []
    for name in duckml.__all__:
        value = getattr(duckml, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            continue  # errors are documented by the functions that raise them
        if ">>>" not in (inspect.getdoc(value) or ""):
            missing.append(name)
    assert not missing, f"public names without a docstring example: {missing}"

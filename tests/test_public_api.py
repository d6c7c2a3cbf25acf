"""The public surface: every ``__all__`` is sorted, and every name in it imports."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

PUBLIC_MODULES = [
    "kbcore",
    "kbcore.logging",
    "kbcore.memory",
    "kbcore.postgres",
    "kbcore.report",
    "kbcore.sync",
    "kbcore.testing",
    "kbcore.vapi",
]


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """ruff's order for ``__all__`` (RUF022): CONSTANTS, then Classes, then the rest.

    Within each group names sort naturally: digits compare as numbers.
    """
    if name.isupper() and len(name) > 1:
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    parts = re.split(r"(\d+)", name)
    return group, [int(part) if part.isdigit() else part for part in parts]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_unique(module_name: str) -> None:
    """``__all__`` lists each name once, in ruff's isort-style order."""
    exported = importlib.import_module(module_name).__all__
    assert exported == sorted(set(exported), key=isort_key)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_exported_name_imports(module_name: str) -> None:
    """Each name in ``__all__`` is there, as ``from module import name`` would find it."""
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_say_what_they_are(module_name: str) -> None:
    """Every exported class, function and module has a docstring."""
    module = importlib.import_module(module_name)
    documentable = {
        name: obj
        for name in module.__all__
        if inspect.isclass(obj := getattr(module, name))
        or inspect.isfunction(obj)
        or inspect.ismodule(obj)
    }
    undocumented = [name for name, obj in documentable.items() if not inspect.getdoc(obj)]
    assert undocumented == []


def test_version_comes_from_the_installed_metadata() -> None:
    """``kbcore.__version__`` is the installed distribution's version."""
    import importlib.metadata

    import kbcore

    assert kbcore.__version__ == importlib.metadata.version("kbcore")

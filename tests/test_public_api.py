"""The public surface: which modules are public, and what each one's ``__all__`` says.

As httpx's ``test_exported_members``: a public module's ``__all__`` names every public
name it has, and nothing that is not there. A module that is not public says so with
an underscore (stamina's ``_core.py``), in its own name or a package's above it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from types import ModuleType

import pytest

import kbcore

PUBLIC_MODULES = [
    "kbcore",
    "kbcore.documents",
    "kbcore.errors",
    "kbcore.live",
    "kbcore.logging",
    "kbcore.memory",
    "kbcore.postgres",
    "kbcore.report",
    "kbcore.retrieval",
    "kbcore.sync",
    "kbcore.testing",
    "kbcore.testing.clones",
    "kbcore.testing.database",
    "kbcore.testing.fake_vapi",
    "kbcore.testing.host_tables",
    "kbcore.testing.pytest_plugin",
    "kbcore.testing.strategies",
    "kbcore.vapi",
]

#: The command line: run as ``kbcore``, not imported. Its modules are named for its
#: subcommands (``kbcore docs``, ``kbcore sync``, ...).
COMMAND = "kbcore.cli"


def public_names(module: ModuleType) -> set[str]:
    """The names a reader would take for the module's own public ones.

    Classes and functions count when the module or one of its private submodules
    defines them (not when it imports them from elsewhere); other objects count when
    their names are constants' (upper case). Modules are judged by their own names.
    """
    found = set()
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            home = value.__module__
            if home == module.__name__ or home.startswith(f"{module.__name__}._"):
                found.add(name)
        elif name.isupper():
            found.add(name)
    return found


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
def test_exported_members(module_name: str) -> None:
    """``__all__`` leaves no public name out, and each name in it is there to import."""
    module = importlib.import_module(module_name)
    assert public_names(module) - set(module.__all__) == set()
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def test_every_module_is_public_or_marked_private() -> None:
    """A module without an underscore in its dotted name is one of the public modules."""
    modules = [info.name for info in pkgutil.walk_packages(kbcore.__path__, "kbcore.")]
    unmarked = [
        name
        for name in modules
        if not any(part.startswith("_") for part in name.split("."))
        and name not in PUBLIC_MODULES
        and name != COMMAND
        and not name.startswith(f"{COMMAND}.")
    ]
    assert unmarked == []


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


def test_import_kbcore_is_lazy_and_its_submodules_are_attributes() -> None:
    """``import kbcore`` brings no HTTP client or driver; ``kbcore.errors`` and the other
    submodules the package used to import are still reachable as attributes."""
    code = (
        "import sys, kbcore\n"
        "assert not {'httpx', 'asyncpg', 'structlog'} & set(sys.modules), sorted(sys.modules)\n"
        "assert kbcore.errors.NotFound is kbcore.NotFound\n"
        "assert kbcore.sync.SyncCoordinator is kbcore.SyncCoordinator\n"
        "for name in ('documents', 'vapi', 'logging', 'postgres', 'retrieval'):\n"
        "    assert getattr(kbcore, name).__name__ == 'kbcore.' + name\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

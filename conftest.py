"""What ``python -m pytest`` collects besides ``tests/``: the package's docstring examples.

pyproject.toml passes ``--doctest-modules``, so every module under ``skbar/`` (and
``tests/``) is imported and the examples in its docstrings run as tests. Collecting a
module imports it, so the modules that need an optional dependency are left out when it
is missing, instead of failing the run.
"""

import importlib.util

import pytest

# The modules whose examples need an extra of setup.cfg, and the imports that extra gives.
_OPTIONAL_DEPENDENCIES = {
    "skbar/oracles/_http.py": ("httpx",),  # extra "http"
    "skbar/optim/_evolution.py": ("cma",),  # extra "es"
    "skbar/baselines.py": ("torch", "efficientnet_lite_pytorch"),  # extra "torch"
    "skbar/plotting.py": ("matplotlib",),  # extra "plot"
}


def _missing(modules):
    """Whether any of the top-level ``modules`` is not installed (found without importing)."""
    return any(importlib.util.find_spec(name) is None for name in modules)


# Paths relative to this file (pytest's collect_ignore_glob), never imported by pytest.
collect_ignore_glob = [
    # Scripts the HTTP tests start in their own virtualenv (with kserve), not modules of
    # this environment; tests import them as ``servers.<name>``.
    "tests/servers",
] + [path for path, modules in _OPTIONAL_DEPENDENCIES.items() if _missing(modules)]


@pytest.fixture(autouse=True)
def _doctests_cache_models_in_a_temporary_folder(request):
    """Docstring examples that load a zoo model convert it outside the user's cache."""
    if isinstance(request.node, pytest.DoctestItem):
        folder = request.getfixturevalue("tmp_path_factory").getbasetemp() / "skbar-cache"
        request.getfixturevalue("monkeypatch").setenv("SKBAR_CACHE", str(folder))

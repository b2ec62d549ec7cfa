"""Gradio's type-stub writer, kept from running when Gradio is imported.

Gradio (6.x) defines each component class through a metaclass that, on every import, reads the component's
source, parses it with ``ast`` and rewrites the ``.pyi`` stub beside it in site-packages
(``gradio.component_meta.create_or_modify_pyi``). The wheel already ships those stubs, so at run time this only
costs CPU and tries to write into the installed package: 3.9 s that hold the GIL out of the 6.5 s Gradio's import
takes, on the critical path of a cold start (``py-spy record --gil`` over ``assistant serve`` on the 1M-chunk
index; docs/scale.md "Cold start at 1M chunks").

``skip_stub_writer()`` installs an import hook that replaces the writer by a no-op as soon as
``gradio.component_meta`` has run, before any component class is made. Stubs matter to type checkers and editors,
not to a running app. If Gradio renames the function the hook changes nothing and Gradio behaves as before.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["STUB_MODULE", "skip_stub_writer"]

STUB_MODULE = "gradio.component_meta"
_WRITER = "create_or_modify_pyi"


def _write_no_stub(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for Gradio's stub writer: the installed stubs are kept as they are."""


def _patch(module: ModuleType) -> None:
    if callable(getattr(module, _WRITER, None)):
        setattr(module, _WRITER, _write_no_stub)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then replaces the writer in the fresh module."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... (tracebacks, inspect) as before
        return getattr(self._loader, name)


class _StubFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != STUB_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader)
        return spec


def skip_stub_writer() -> None:
    """Keep Gradio from rewriting its stubs for the components it defines from now on (idempotent)."""
    loaded = sys.modules.get(STUB_MODULE)
    if loaded is not None:  # Gradio is already imported: its own components are made; later ones are spared
        _patch(loaded)
        return
    if not any(isinstance(finder, _StubFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StubFinder())

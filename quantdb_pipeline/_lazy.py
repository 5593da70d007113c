"""A module imported on first attribute access."""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands in for `name` until an attribute is first read, then imports it."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

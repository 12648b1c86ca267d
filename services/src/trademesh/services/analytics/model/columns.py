"""Growable columns: what a journal keeps its fills and round trips in.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trademesh.services.analytics.model.fills import Column


@dataclass(slots=True)
class GrowableColumns:
    """Growable columns: a NumPy base (from a rebuild) plus a Python tail (incremental appends)."""

    names: tuple[str, ...]
    base: dict[str, Column] = field(default_factory=dict)
    tail: dict[str, list[int]] = field(default_factory=dict)
    _view: dict[str, Column] | None = None

    def __post_init__(self) -> None:
        self.tail = {name: [] for name in self.names}

    def append(self, **values: int) -> None:
        for name, value in values.items():
            self.tail[name].append(value)
        self._view = None

    def view(self) -> dict[str, Column]:
        if self._view is None:
            view = {}
            for name in self.names:
                base = self.base.get(name, np.zeros(0, dtype=np.int64))
                tail = self.tail[name]
                if tail:
                    dtype = base.dtype if base.dtype == object or len(base) else np.int64
                    view[name] = np.concatenate((base, np.array(tail, dtype=dtype)))
                else:
                    view[name] = base
            self._view = view
        return self._view

    def __len__(self) -> int:
        first = self.names[0]
        return len(self.base.get(first, ())) + len(self.tail[first])

"""A cached engine loader: compiled engines kept by rule directories, rebuilt when they change.

Compiling a rulebook takes tens of milliseconds; evaluating takes tens of microseconds. A
loader owns the engines for one base rulebook plus any site pack, builds each on first use and
hands the same one back. Whether a pack's files changed is checked at most once every
``interval`` seconds per pack (one ``stat`` per rule file then), never on every call;
``reload()`` drops every engine at once, for whoever changed the files and cannot wait.
At most ``size`` engines are kept (least recently used go first).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from gbrules.core.engine import Engine

E = TypeVar("E", bound="Engine")

# Per rule file: (name, modification time in ns, size); None for a directory that is gone.
Stamp = tuple[tuple[str, int, int] | None, ...]


@dataclass
class _Loaded(Generic[E]):
    engine: E
    stamp: Stamp
    checked: float  # when the stamp was last compared (loader clock)


class EngineLoader(Generic[E]):
    """Engines for ``base`` rule directories (plus one optional site pack), built by ``build``.

    ``build`` compiles directories into an engine (e.g. ``Engine.from_directory``); ``base``
    is called once, on first use, for the base directories (so a loader costs nothing to
    create). Thread-safe.
    """

    def __init__(
        self,
        build: Callable[..., E],
        base: Callable[[], Sequence[str | Path]],
        *,
        interval: float = 1.0,
        size: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.build = build
        self.interval = interval  # seconds between two staleness checks of one engine
        self.size = size
        self._base_of = base
        self._base: tuple[str, ...] | None = None
        self._clock = clock
        self._loaded: OrderedDict[str | None, _Loaded[E]] = OrderedDict()
        self._lock = threading.Lock()

    def engine(self, pack: str | os.PathLike[str] | None = None) -> E:
        """The engine for the base rulebook plus ``pack`` (a site pack directory, or None)."""
        key = None if pack is None else os.fspath(pack)
        loaded = self._loaded.get(key)
        if loaded is not None and self._clock() - loaded.checked < self.interval:
            return loaded.engine
        with self._lock:
            return self._refresh(key)

    def reload(self) -> None:
        """Forget every engine: the next call of ``engine`` rebuilds from the files."""
        with self._lock:
            self._loaded.clear()

    def _refresh(self, key: str | None) -> E:
        """Check (lock held) that the engine for ``key`` is current; (re)build it if not."""
        now = self._clock()
        loaded = self._loaded.get(key)
        if loaded is not None and now - loaded.checked < self.interval:
            return loaded.engine  # another thread checked it meanwhile
        dirs = self._dirs(key)
        stamp = _stamp(dirs)
        if loaded is not None and loaded.stamp == stamp:
            loaded.checked = now
            self._loaded.move_to_end(key)
            return loaded.engine
        self._loaded.pop(key, None)  # stale or absent: a failed build leaves nothing behind
        engine = self.build(*dirs)
        self._loaded[key] = _Loaded(engine, stamp, now)
        while len(self._loaded) > self.size:
            self._loaded.popitem(last=False)
        return engine

    def _dirs(self, key: str | None) -> tuple[str, ...]:
        if self._base is None:
            self._base = tuple(os.fspath(d) for d in self._base_of())
        if key is None:
            return self._base
        return (*self._base, str(Path(key).resolve()))


def _stamp(dirs: Sequence[str]) -> Stamp:
    """What the rule files of ``dirs`` look like now: changed content changes the stamp."""
    out: list[tuple[str, int, int] | None] = []
    for d in dirs:
        directory = Path(d)
        if not directory.is_dir():  # gone: the build reports it
            out.append(None)
            continue
        for path in sorted(directory.glob("*.yaml")):
            try:
                st = path.stat()
            except OSError:  # vanished between listing and stat: the build reports it
                out.append((str(path), -1, -1))
            else:
                out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)

"""Values a run must keep until its end, parked on disk instead of in memory.

A run over many targets needs some of each target's data once more after every target is audited
(the fleet comparison reads each application target's desired objects). Held in memory, that data
grows with the fleet; parked here, the peak is one target's. Files are pickles, compressed (zlib level 1:
manifests are repetitive, and a 300-object target shrinks ~20x in under a millisecond), in a directory the run
created for itself (``mkdtemp``: mode 0700, removed with the run), written and read back by the
same process: nothing outside the run ever feeds them.
"""

from __future__ import annotations

import pickle
import threading
import zlib
from pathlib import Path
from typing import Any


class Spool:
    """Values by name, each in its own file under ``folder``."""

    def __init__(self, folder: Path) -> None:
        """``folder`` must be private to the run (it is not created here)."""
        self._folder = folder
        self._files: dict[str, Path] = {}
        self._lock = threading.Lock()

    def put(self, name: str, value: Any) -> None:
        """Park ``value`` under ``name`` (replacing an earlier one); safe from several threads."""
        with self._lock:
            path = self._files.get(name) or self._folder / f"spool-{len(self._files)}.pickle.zlib"
            self._files[name] = path
        path.write_bytes(zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1))

    def get(self, name: str, default: Any = None) -> Any:
        """The value parked under ``name``, read back from disk (``default`` when there is none)."""
        path = self._files.get(name)
        if path is None:
            return default
        return pickle.loads(zlib.decompress(path.read_bytes()))  # noqa: S301 - our own file, written by this run

    def __contains__(self, name: object) -> bool:
        return name in self._files

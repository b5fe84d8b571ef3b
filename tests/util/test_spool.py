"""The run's disk spool: values parked by name and read back, from several threads, in a private directory."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

from auditor.util.spool import Spool


def test_values_come_back_equal_and_a_name_is_one_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put("a", ({"x": [1, "é"]}, None))
    spool.put("b", "second")
    spool.put("a", ("replaced",))
    assert spool.get("a") == ("replaced",) and spool.get("b") == "second"
    assert spool.get("a") is not spool.get("a")  # read from disk each time: nothing kept in memory
    assert spool.get("missing", ()) == () and "a" in spool and "missing" not in spool
    assert len(list(tmp_path.iterdir())) == 2


def test_puts_from_many_threads_keep_every_value(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    threads = [threading.Thread(target=lambda i=i: spool.put(f"t{i}", list(range(i)))) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(spool.get(f"t{i}") == list(range(i)) for i in range(40))
    assert len(list(tmp_path.iterdir())) == 40


def test_files_are_compressed(tmp_path: Path) -> None:
    value = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"web-{i}"}} for i in range(300)]
    Spool(tmp_path).put("t", value)
    (path,) = tmp_path.iterdir()
    assert path.stat().st_size * 5 < len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

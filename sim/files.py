"""Atomic file writes: the one implementation every checkpoint, shard, report and replay uses.

The content goes to a temp file in the same folder, which is then renamed over the target:
an interrupt, a crash or a full disk never leaves half a file, and the old file stays intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call write(binary_file) on a temp file beside `path`, then rename it to `path`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda out: out.write(text.encode("utf-8")))


def write_json_atomic(path: str | os.PathLike, data: Any, **dump_options) -> Path:
    """JSON, indented and key-sorted unless dump_options say otherwise."""
    options = {"indent": 2, "sort_keys": True} | dump_options
    return write_text_atomic(path, json.dumps(data, **options) + "\n")

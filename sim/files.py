"""Atomic file writes: the one implementation every checkpoint, shard, report and replay uses.

The content goes to a temp file in the same folder, which is then renamed over the target:
an interrupt, a crash or a full disk never leaves half a file, and the old file stays intact.

Temp files are named `.<target>.<host>.<pid>.<random>.tmp`. A process killed with SIGKILL
(or a machine that loses power) cannot remove its own; the next write to the same target
removes those whose process on this host is gone, so they never pile up. Readers never see
them: they are dotfiles with another name (checkpoint hashes skip dotfiles too).
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

Writer = Callable[[BinaryIO], Any]
# Dots separate the name's fields, so the host part keeps letters, digits and dashes only.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def atomic_write(path: str | os.PathLike, write: Writer) -> Path:
    """Call write(binary_file) on a temp file beside `path`, then rename it to `path`."""
    return atomic_write_all({path: write})[0]


def atomic_write_all(writes: dict[str | os.PathLike, Writer]) -> list[Path]:
    """Write several files (a checkpoint's model.pt and config.json) as one: every temp file is
    complete before the first rename, so a failure while writing any of them (full disk, an
    exception, Ctrl-C) leaves all of them as they were. Only a kill in the microseconds between
    the renames could mix an old and a new file."""
    for path in writes:  # all of them first, so that a writer killed early leaves no older ones behind
        remove_stale_temps(path)
    done: list[tuple[str, Path]] = []
    try:
        for path, write in writes.items():
            done.append((_write_temp(Path(path), write), Path(path)))
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in done:
            Path(tmp).unlink(missing_ok=True)
        raise
    return [path for _, path in done]


def _write_temp(path: Path, write: Writer) -> str:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename: a power cut cannot leave an empty file
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def temp_files(path: str | os.PathLike) -> list[Path]:
    """Temp files of writes to `path` that are in progress or were cut short by a kill."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Remove the temp files of writes to `path` by processes of this host that no longer run."""
    prefix = f".{Path(path).name}."
    for tmp in temp_files(path):
        host, _, rest = tmp.name[len(prefix):].partition(".")
        pid = rest.partition(".")[0]
        if host == _HOST and pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # not ours to remove (a shared folder with the sticky bit): the write goes on


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number we cannot ask about): leave its file
    return True


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda out: out.write(text.encode("utf-8")))


def write_json_atomic(path: str | os.PathLike, data: Any, **dump_options) -> Path:
    """JSON, indented and key-sorted unless dump_options say otherwise."""
    return write_text_atomic(path, json_text(data, **dump_options))


def json_text(data: Any, **dump_options) -> str:
    options = {"indent": 2, "sort_keys": True} | dump_options
    return json.dumps(data, **options) + "\n"


def load_state_file(path: str | os.PathLike, error: type[Exception], what: str) -> dict:
    """torch.load(path, weights_only=True) of a dict of tensors (`what` it should be, for the
    message), or `error` with one line (state_file_error): the one safe way weights are read."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or pickled code refused by weights_only
        raise error(state_file_error(path, err)) from None
    if not isinstance(state, dict):
        raise error(f"{path} holds a {type(state).__name__}, not {what}")
    return state


def state_file_error(path: str | os.PathLike, err: BaseException) -> str:
    """One line saying why torch.load(path, weights_only=True) failed, without torch's advice to
    retry with weights_only=False (that would run whatever code the file holds)."""
    import pickle

    text = str(err)
    unsafe = re.search(r"GLOBAL (\S+) (?:was not an allowed global|whose module \S+ is blocked)", text)
    if unsafe:
        return (f"refused {path}: it is not plain weights; loading it would call {unsafe.group(1)} "
                "(nothing was run: only tensors and plain values are loaded). Use files from trusted sources")
    if isinstance(err, EOFError) or any(s in text for s in ("central directory", "zip archive", "magic number")):
        return f"cannot load {path}: the file is truncated or corrupt (not a complete torch.save file)"
    if isinstance(err, pickle.UnpicklingError):
        return (f"cannot load {path}: not a plain weights file (corrupt, or it holds objects other than "
                "tensors and plain values; nothing was run)")
    if isinstance(err, OSError) and err.strerror:
        return f"cannot read {path}: {err.strerror}"
    first = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().splitlines()
    return f"cannot load {path}: {type(err).__name__}: {first[0] if first else 'no details'}"

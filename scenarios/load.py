"""The one bounded loader every JSON and YAML file of the sandbox is read through.

A file a user hands us (a suite, a catalog entry, a checkpoint's config.json, a replay,
results.json) may be anything: a FIFO that blocks a read forever, a 50 GB file, 100 000 nested
brackets (a RecursionError deep inside the parser), or a 554-byte YAML "billion laughs" whose
anchors and aliases expand exponentially. Here each is one LoadError line that names the file,
what is wrong and the limit, before any of it reaches the callers' validation:

- regular files only: opened with O_NONBLOCK, so a FIFO never blocks, then fstat-ed;
- at most max_bytes: the size is checked before reading, and at most max_bytes + 1 are read;
- UTF-8 text;
- nesting at most MAX_DEPTH collections deep (JSON: counted without recursion before parsing;
  YAML: counted while composing, before anything is constructed);
- YAML: at most MAX_ALIASES aliases, expanding to at most MAX_NODES nodes, none recursive;
- JSON: NaN and Infinity only where the caller allows them (results.json writes a min_ttc of
  "never closing in" as Infinity);
- JSON: at most max_values values (counted before parsing): 256 MiB of `1,` is 134 million
  Python objects, gigabytes of memory and minutes for whoever walks them (a replay's actions).

OS errors (a missing file, no permission, a directory) stay OSErrors, as open() raises them:
callers already say "no checkpoint at ..." or "nothing to resume" for those.

Lives in scenarios/ (pure Python and PyYAML) because that is the lowest layer: sim, agents,
scoring and perception all import scenarios, and scenarios imports none of them.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from itertools import accumulate
from typing import Any

import yaml

MiB = 1 << 20
MAX_DEPTH = 100  # nested lists/mappings; our files nest at most 6 deep, Python's recursion limit is 1000
MAX_ALIASES = 100  # per YAML document; our files use none
MAX_NODES = 1_000_000  # YAML nodes after alias expansion (a suite of 100 000 seeds has about 100 000)
# JSON values per file unless the caller says otherwise. Sized for replays (sim/replay.py takes the
# default): a racetrack episode is about 1,200 values (300 steps), a merge one 280, so this is
# 1,600-7,000 episodes, days of video at real time. results.json and metrics.json pass their own.
MAX_VALUES = 2_000_000
SMALL_FILE_BYTES = 1 * MiB  # configs, catalog entries, settings tables, model cards, the zoo manifest
SUITE_FILE_BYTES = 8 * MiB  # a suite listing its 100 000 seeds one by one takes about 1.3 MB
LARGE_FILE_BYTES = 256 * MiB  # replays and training histories (metrics.json)
RESULTS_FILE_BYTES = 1024 * MiB  # results.json: about 1.1 kB per episode, so about 900 000 episodes

_KINDS = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
          stat.S_ISSOCK: "a socket"}


class LoadError(ValueError):
    """A file that is not a bounded, well-formed JSON/YAML file. str(): '<path>: <reason>', one line;
    `reason` alone (no path) is for callers that name the file in their own words."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(reason.split())  # parser messages span lines; the user gets one
        super().__init__(f"{self.path}: {self.reason}")


def read_bytes(path: str | os.PathLike, *, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most max_bytes; LoadError otherwise (OSError for open's errors)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)  # a FIFO opens at once
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):  # as open() says it, so callers' messages stay the same
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS.items() if test(info.st_mode)), "not a plain file")
            raise LoadError(path, f"is {kind}, not a regular file; only regular files are read")
        if info.st_size > max_bytes:
            raise LoadError(path, f"is {_size(info.st_size)}, over the {_size(max_bytes)} limit for this file")
        chunks, total = [], 0
        while total <= max_bytes:  # the size may have grown since fstat: read at most max_bytes + 1
            chunk = os.read(fd, min(max_bytes + 1 - total, 16 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise LoadError(path, f"is over the {_size(max_bytes)} limit for this file")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, *, max_bytes: int) -> str:
    """read_bytes, decoded as UTF-8; not UTF-8 is a LoadError whose reason is the codec's message."""
    try:
        return read_bytes(path, max_bytes=max_bytes).decode("utf-8")
    except UnicodeDecodeError as err:
        raise LoadError(path, str(err)) from None


def read_json(path: str | os.PathLike, *, max_bytes: int = SMALL_FILE_BYTES, finite: bool = False,
              max_depth: int = MAX_DEPTH, max_values: int | None = MAX_VALUES) -> Any:
    """A bounded JSON file's data. finite: refuse NaN and Infinity (json.dumps writes them by default).
    max_values: None for files bounded by their size alone."""
    return parse_json(read_text(path, max_bytes=max_bytes), path, finite=finite, max_depth=max_depth,
                      max_values=max_values)


def parse_json(text: str, path: str | os.PathLike = "<text>", *, finite: bool = False,
               max_depth: int = MAX_DEPTH, max_values: int | None = MAX_VALUES) -> Any:
    depth, values = _json_shape(text)
    if depth > max_depth:
        raise LoadError(path, f"nests lists/objects more than {max_depth} deep, the limit")
    if max_values is not None and values > max_values:
        raise LoadError(path, f"holds more than {max_values:,} values, the limit for this file")
    try:
        if finite:
            return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        return json.loads(text)
    except (json.JSONDecodeError, _NotFinite, RecursionError) as err:
        raise LoadError(path, str(err) or "nested too deep") from err


def read_yaml(path: str | os.PathLike, *, max_bytes: int = SMALL_FILE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A bounded YAML file's data (safe types only), checked for depth and aliases before it is built."""
    return parse_yaml(read_text(path, max_bytes=max_bytes), path, max_depth=max_depth)


def parse_yaml(text: str, path: str | os.PathLike = "<text>", *, max_depth: int = MAX_DEPTH) -> Any:
    """yaml.safe_load with the bounds (also for YAML given on a command line)."""
    loader = _BoundedLoader(text, max_depth)
    try:
        return loader.get_single_data()
    except _Refused as err:
        raise LoadError(path, str(err)) from None
    except yaml.YAMLError as err:  # kept as __cause__: its .problem is the short form
        raise LoadError(path, str(err)) from err
    finally:
        loader.dispose()


class _NotFinite(ValueError):
    pass


class _Refused(Exception):
    pass


def _refuse_constant(name: str):
    raise _NotFinite(f"holds {name}, where only finite numbers are allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as inf
        raise _NotFinite(f"holds {text[:40]}, beyond the finite numbers allowed")
    return value


# A JSON string: quotes around anything but quotes and backslashes, or backslash escapes (no backtracking).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _json_shape(text: str) -> tuple[int, int]:
    """(how deep lists/objects nest, how many values there are) in JSON text, without parsing it
    (json.loads recurses per level). Values: every item of a list or object and the document itself,
    so commas + collections + 1 (an empty collection counts one value too many)."""
    if text.count("[") + text.count("{") == 0:
        return 0, 1
    outside_strings = _JSON_STRING.sub("", text)  # a comma or bracket in a string is not structure
    brackets = _NOT_BRACKET.sub("", outside_strings)
    depth = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    return depth, outside_strings.count(",") + len(brackets) // 2 + 1


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts nesting and aliases while composing, and the nodes aliases expand to
    before constructing (PyYAML builds aliased data once and shares it, but whoever walks it
    later, even repr(), walks every expansion)."""

    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__(text)
        self.max_depth, self.depth, self.aliases = max_depth, 0, 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(f"has more than {MAX_ALIASES} YAML aliases (*name), the limit")
            return super().compose_node(parent, index)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                raise _Refused(f"nests lists/mappings more than {self.max_depth} deep, the limit")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        if self.aliases:
            _check_expansion(node, self.max_depth)
        return self.construct_document(node)


def _check_expansion(root: yaml.Node, max_depth: int) -> None:
    """Nodes and depth of the document with every alias expanded, counted once per node (memo), iteratively."""
    size: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) once done
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size and not children_done:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                raise _Refused("has a YAML alias inside the collection it names (a recursive structure)")
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise _Refused("has a YAML alias inside the collection it names (a recursive structure)")
                if id(child) not in size:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        nodes = 1 + sum(size[id(c)][0] for c in children)
        depth = isinstance(node, yaml.CollectionNode) + max((size[id(c)][1] for c in children), default=0)
        if nodes > MAX_NODES:
            raise _Refused(f"expands through its YAML aliases to more than {MAX_NODES:,} values, the limit")
        if depth > max_depth:
            raise _Refused(f"nests lists/mappings more than {max_depth} deep through its aliases, the limit")
        size[key] = (nodes, depth)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _size(n: int) -> str:
    return f"{n / 1024 / MiB:.1f} GiB" if n >= 1024 * MiB else f"{n / MiB:.1f} MiB" if n >= MiB else f"{n:,} bytes"

"""Typed fields of data our own files hand back on a resume (results.json, metrics.json).

The bounded loader (scenarios/load.py) guarantees well-formed JSON, not that its values are the
ones we wrote: a hand edit or another tool leaves a string where a seed was (a str seed does not
sort with the int ones, so the run crashed once the next episode had played) or NaN where a score
was (it ranked on the leaderboard). The reader checks every field it uses with check_fields, so
the file is refused in one line naming the field, before anything runs.

    check_fields(record, {"seed": integer(), "driving_score": number(0, 1)}, where="episode 3: ")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


class FieldError(ValueError):
    """A field of loaded data that is missing or of the wrong type; str() is one line naming it."""


@dataclass(frozen=True)
class Kind:
    what: str  # for the message: "must be <what>"
    test: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def integer(low: int = 0) -> Kind:
    return Kind(f"an integer >= {low}", lambda v: _is_int(v) and v >= low)


def number(low: float = -math.inf, high: float = math.inf) -> Kind:
    """A finite number (NaN and Infinity refused) in [low, high]."""
    what = "a finite number" if math.isinf(low) and math.isinf(high) else f"a number from {low:g} to {high:g}"
    return Kind(what, lambda v: (_is_int(v) or isinstance(v, float)) and math.isfinite(v) and low <= v <= high)


TEXT = Kind("text", lambda v: isinstance(v, str))
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
MAPPING = Kind("a JSON object", lambda v: isinstance(v, dict))


def or_null(kind: Kind) -> Kind:
    return Kind(f"{kind.what} or null", lambda v: v is None or kind.test(v))


def list_of(kind: Kind, plural: str) -> Kind:
    """A list whose items are all `kind`; plural names them ("integers >= 0")."""
    return Kind(f"a list of {plural}", lambda v: isinstance(v, list) and all(map(kind.test, v)))


def mapping_of(kind: Kind, plural: str) -> Kind:
    """A JSON object whose values are all `kind`."""
    return Kind(f"a JSON object of {plural}", lambda v: isinstance(v, dict) and all(map(kind.test, v.values())))


def check_fields(data: Any, required: dict[str, Kind], optional: dict[str, Kind] | None = None,
                 where: str = "") -> dict:
    """`data`, once it is a mapping whose `required` fields are present and of their kind, and whose
    `optional` ones (absent in files written before they existed) are of theirs when present."""
    if not isinstance(data, dict):
        raise FieldError(f"{where}expected a JSON object, got {type(data).__name__}")
    for key, kind in required.items():
        if key not in data:
            raise FieldError(f"{where}{key} is missing")
    for key, kind in {**(optional or {}), **required}.items():
        if key in data and not kind.test(data[key]):
            raise FieldError(f"{where}{key} must be {kind.what}, got {data[key]!r:.60}")
    return data

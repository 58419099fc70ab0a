"""Hyperparameter checks shared by our DQN (agents/dqn.py) and the SB3 agents (agents/sb3.py).

A value is checked against the type and range its default implies, so that `--set gamma=2`,
`--set n_steps=-5` or `--set learning_rate=nan` is one clear line before anything starts,
not a crash (or a silently useless run) minutes into training. Also the reader of the
per-scenario settings tables (agents/dqn.yaml, agents/sb3.yaml).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.base import AgentError
from scenarios.load import SMALL_FILE_BYTES, LoadError, read_yaml

OBS_MODES = ("features", "camera", "kinematics")
# Settings that are probabilities, discounts or mixing rates: numbers in [0, 1].
FRACTIONS = {"gamma", "gae_lambda", "tau", "clip_range", "exploration_fraction", "exploration_initial_eps",
             "exploration_final_eps", "epsilon_start", "epsilon_end", "priority_alpha", "priority_beta"}
# Settings that do nothing (or divide by zero) at 0: a step size, a soft-update rate, a gradient clip.
POSITIVE = {"learning_rate", "tau", "max_grad_norm"}
NUMBER_WITH_INT_DEFAULT = {"max_grad_norm"}  # SB3's DQN writes its default as 10
# No count here (steps, buffer, batch, epochs, layer size) needs more; 10**30 is a typo, and
# would otherwise fail only when a buffer of that size is allocated.
MAX_COUNT = 10**9
MAX_ENVS = 256  # n_envs: each is a worker process
# Layer widths: 16384 x 16384 is already 268M weights; a wider layer fails only when allocated.
MAX_WIDTH = 16_384
WIDTHS = {"hidden"}  # and every entry of net_arch


def check_setting(agent: str, key: str, value: Any, default: Any) -> Any:
    """`value` of setting `key` (whose default is `default`), checked; integral floats (1e5) become ints."""
    where = f"{agent} setting {key}={value!r:.60}"
    if key == "obs":
        if value not in OBS_MODES:
            raise AgentError(f"{where}: expected one of {', '.join(OBS_MODES)}")
        return value
    if key == "encoder":  # a name of shipped perception weights (checked when training starts)
        if not (isinstance(value, str) and value and len(value) <= 100 and "\n" not in value):
            raise AgentError(f"{where}: expected the name of perception weights, e.g. default or v2")
        return value
    if key == "net_arch":
        if not (isinstance(value, list) and value and all(_is_int(n) and 0 < n <= MAX_WIDTH for n in value)):
            raise AgentError(f"{where}: expected a list of layer sizes from 1 to {MAX_WIDTH}, e.g. [256, 256]")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise AgentError(f"{where}: expected true or false")
        return value
    if isinstance(default, str):  # SAC's "auto" entropy settings, or a number
        if isinstance(value, str) and value.startswith("auto"):
            return value
        default = 0.0 if key == "ent_coef" else -math.inf
    if default is None and value is None:
        return None
    return _check_number(where, key, value, default)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_number(where: str, key: str, value: Any, default: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AgentError(f"{where}: expected a finite number")
    if _is_int(default) and key not in NUMBER_WITH_INT_DEFAULT:
        if not (_is_int(value) or float(value).is_integer()):
            raise AgentError(f"{where}: expected an integer")
        value = int(value)  # --set buffer_size=1e5 reads as the float 100000.0
        most = MAX_ENVS if key == "n_envs" else MAX_WIDTH if key in WIDTHS else MAX_COUNT
        if value > most:
            raise AgentError(f"{where}: expected at most {most}")
    lowest = min(default, 1) if _is_int(default) else (-math.inf if default == -math.inf else 0)
    if key in POSITIVE and value <= 0:
        raise AgentError(f"{where}: expected a positive number")
    if value < lowest:
        raise AgentError(f"{where}: expected a {'positive' if lowest > 0 else 'non-negative'} number")
    if key in FRACTIONS and value > 1:
        raise AgentError(f"{where}: expected a number in [0, 1]")
    return value


def read_settings_table(path: Path, section: str | None, scenario: str) -> dict:
    """Per-scenario settings from a YAML table: `{scenario: {...}}` (section None, agents/dqn.yaml)
    or `{section: {defaults: {...}, scenarios: {scenario: {...}}}}` (agents/sb3.yaml). A
    malformed table is an AgentError naming the file, not a traceback in the middle of --train."""
    try:
        table = read_yaml(path, max_bytes=SMALL_FILE_BYTES) or {}
    except LoadError as err:  # not YAML or UTF-8, or a FIFO, too big, too deep, an alias bomb (scenarios/load.py)
        raise AgentError(f"cannot read the settings table {path}: {err.reason}") from None
    except OSError as err:
        raise AgentError(f"cannot read the settings table {path}: {_one_line(err)}") from None
    where = str(path)
    if section is not None:
        table = _mapping(table, where).get(section) or {}
        where = f"{path} [{section}]"
        unknown = sorted(set(_mapping(table, where)) - {"defaults", "scenarios"})
        if unknown:
            raise AgentError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; valid: defaults, scenarios")
        defaults = _mapping(table.get("defaults") or {}, f"{where} defaults")
        table = _mapping(table.get("scenarios") or {}, f"{where} scenarios")
        return {**defaults, **_mapping(table.get(scenario) or {}, f"{where} scenarios.{scenario}")}
    return dict(_mapping(_mapping(table, where).get(scenario) or {}, f"{where} [{scenario}]"))


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise AgentError(f"{where}: expected a mapping of names, got {value!r:.60}")
    return value


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())

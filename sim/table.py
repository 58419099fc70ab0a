"""The metrics table printed after episodes: one row per episode and a summary."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console
from rich.table import Table

COLUMNS = (  # (header, key, format)
    ("seed", "seed", "{}"),
    ("outcome", "outcome", "{}"),
    ("return", "episode_return", "{:.2f}"),
    ("steps", "length", "{}"),
    ("distance [m]", "distance", "{:.0f}"),
    ("progress", "progress", "{:.2f}"),
    ("speed [m/s]", "mean_speed", "{:.1f}"),
    ("lane chg", "lane_changes", "{}"),
    ("min TTC [s]", "min_ttc", "{:.2f}"),
    ("score", "driving_score", "{:.2f}"),
)


def episode_row(record: dict) -> list[str]:
    from sim.score import score_episode

    record = record | {"driving_score": score_episode(record).driving_score}
    return [fmt.format(record[key]) if not _is_inf(record[key]) else "-" for _, key, fmt in COLUMNS]


def summary(records: list[dict]) -> dict:
    n = len(records)
    outcomes = [r["outcome"] for r in records]
    return {
        "episodes": n,
        "success_rate": outcomes.count("success") / n if n else math.nan,
        "collision_rate": outcomes.count("collision") / n if n else math.nan,
        "mean_return": float(np.mean([r["episode_return"] for r in records])) if n else math.nan,
        "mean_speed": float(np.mean([r["mean_speed"] for r in records])) if n else math.nan,
    }


def print_table(records: list[dict], title: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=title)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for record in records:
        table.add_row(*episode_row(record))
    console.print(table)
    s = summary(records)
    console.print(
        f"{s['episodes']} episodes: success {s['success_rate']:.0%}, collision {s['collision_rate']:.0%}, "
        f"mean return {s['mean_return']:.2f}, mean speed {s['mean_speed']:.1f} m/s"
    )


def _is_inf(value) -> bool:
    return isinstance(value, float) and math.isinf(value)

"""A training run's held-out evaluations as a picture: metrics.png beside metrics.json.

One chart against env steps: the mean driving score (sim/score.py), the success rate and the
collision rate on the validation episodes of each evaluation (agents/training.py evaluate). All
three are in [0, 1], so they share one axis. RunFolder.record redraws it after every evaluation.

Drawn with matplotlib's Agg canvas on a Figure of its own, not pyplot: no global backend switch
and no figure registry, so a training run inside a notebook or beside a pygame window is untouched.
"""

from __future__ import annotations

import io
import math

CURVES = (  # (metrics.json key, label, colour)
    ("mean_driving_score", "driving score (mean)", "tab:blue"),
    ("success_rate", "success rate", "tab:green"),
    ("collision_rate", "collision rate", "tab:red"),
)


def curves_png(history: list[dict], title: str = "") -> bytes:
    """PNG bytes of the evaluations in `history` (metrics.json's list, oldest first). A key an
    evaluation lacks (metrics.json from before the driving score) leaves a gap, not an error."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [h["steps"] for h in history]
    for key, label, colour in CURVES:
        values = [_number(h.get(key)) for h in history]
        if any(not math.isnan(v) for v in values):
            ax.plot(steps, values, marker="o", markersize=3, color=colour, label=label)
    episodes = {h.get("episodes") for h in history} - {None}
    held_out = f"{episodes.pop()} validation episodes each" if len(episodes) == 1 else "validation episodes"
    ax.set_title(f"{title}: held-out evaluations ({held_out})" if title else f"held-out evaluations ({held_out})",
                 fontsize=10)
    ax.set_xlabel("env steps")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="best", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14)  # fixed: tight_layout would double the time
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan

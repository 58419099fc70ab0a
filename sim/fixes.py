"""Fixes for highway-env 1.12 bugs that end an episode with an exception, applied once when
sim is imported (make_env builds every env after that).

two-way: TwoWayEnv._rewards divides by (number of side lanes - 1). When the ego overtakes into
the oncoming lane, its lane becomes the one-lane oncoming road, and the step raises
ZeroDivisionError (a training run's worker dies after a few thousand steps). Here the
left-lane term is 0 on a one-lane road: there is no lane further left to prefer.
"""

from __future__ import annotations

from highway_env.envs.two_way_env import TwoWayEnv


def _two_way_rewards(self, action: int) -> dict[str, float]:
    neighbours = self.road.network.all_side_lanes(self.vehicle.lane_index)
    side_lanes = len(neighbours) - 1
    return {
        "high_speed_reward": self.vehicle.speed_index / (self.vehicle.target_speeds.size - 1),
        "left_lane_reward": (side_lanes - self.vehicle.target_lane_index[2]) / side_lanes if side_lanes else 0.0,
    }


def apply() -> None:
    TwoWayEnv._rewards = _two_way_rewards

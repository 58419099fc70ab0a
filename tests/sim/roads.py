"""Constructed situations for the sim tests: a scenario's road with only the ego on it."""

from sim import make_env


def empty_road(name, seed=0):
    """The scenario reset with every vehicle but the ego removed: (env, road, ego)."""
    env = make_env(name, obs="kinematics", seed=seed)
    env.reset()
    road, ego = env.unwrapped.road, env.unwrapped.vehicle
    road.vehicles[:] = [ego]
    return env, road, ego

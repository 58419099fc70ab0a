import os
import signal

# Headless rendering in every test. highway-env draws nothing under SDL's "dummy" driver
# (sim/headless.py switches it to "offscreen", which does draw); set that one directly.
os.environ["SDL_VIDEODRIVER"] = "offscreen"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def ctrl_c_as_at_a_terminal() -> None:
    """preexec_fn of a subprocess that a test sends SIGINT: a shell starts background jobs with
    SIGINT ignored, and the ignoring is inherited, so `pytest &` would start it deaf to Ctrl-C,
    as no user's process is."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

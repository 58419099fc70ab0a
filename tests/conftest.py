import os

# Headless rendering in every test. highway-env draws nothing under SDL's "dummy" driver
# (sim/headless.py switches it to "offscreen", which does draw); set that one directly.
os.environ["SDL_VIDEODRIVER"] = "offscreen"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

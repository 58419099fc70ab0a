"""Perception: camera frames -> CNN features and a decoded vector space (see DESIGN.md).

Empty until the perception issue lands; sim already provides what it will learn from:
camera observations and info["truth"] labels (sim/truth.py).
"""

"""Perception: camera frames -> CNN features and a decoded vector space (docs/architecture.md).

encoder.py the network, weights.py its shipped weights (perception/weights/), features.py the
features as observations and as an SB3 extractor; collect.py, dataset.py, train.py, evaluate.py
and metrics.py make and measure them (the data: camera frames with sim's info["truth"] and
info["lane"] labels, sim/truth.py).
"""

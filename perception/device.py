"""Resolve the torch device once, at the entry point, and pass it down."""

from __future__ import annotations

import sys

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """auto -> cuda if available else cpu; cuda without a GPU falls back to cpu with a message."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if name == "cuda":
        print("device cuda requested but no GPU is available: running on cpu", file=sys.stderr)
    return torch.device("cpu")

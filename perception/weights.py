"""Shipped encoder weights: perception/weights/<name>.pt (state dict) + <name>.json (model card).

Loading never unpickles code: torch.load(..., weights_only=True), then the state dict is
checked against the architecture the model card describes.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch

from perception.encoder import Encoder, EncoderConfig
from scenarios.load import SMALL_FILE_BYTES, LoadError, read_json
from sim.files import atomic_write, load_state_file, write_json_atomic

WEIGHTS_DIR = Path(__file__).parent / "weights"
# Two encoders ship side by side until the zoo is retrained on the world-state camera (issue 17):
DEFAULT_WEIGHTS = "default"  # v1, on highway-env's camera: what obs="features" reads (the zoo trained on it)
# On the world-state camera (sim.CameraConfig()): in the network under obs="camera", and the default of
# perception.evaluate and the lane-keeping benchmark. v4 is v3's recipe on the heading-anchored camera
# (CameraConfig's default); v3 is v2 fine-tuned on whole racetrack laps (v2's data stopped before the
# first right-hand bend, where its lane estimates steered off the road); both v2 and v3 read the "own"
# anchor and stay for checkpoints trained with `encoder: v2` / `v3`.
CAMERA_WEIGHTS = "v4"
# The vector space decoded from the world-state camera (the viewer's "believed" overlay, the default of
# perception.evaluate): v5 is v4 with a wide detection head (perception.encoder.DETECTORS) trained on
# v4's frozen trunk, so its features, lane estimates, and any agent trained on v4's, are v4's to the bit.
PERCEPTION_WEIGHTS = "v5"


class WeightsError(ValueError):
    """Missing, corrupt or mismatched encoder weights; the message says which and what to do."""


def weights_paths(name_or_path: str | os.PathLike) -> tuple[Path, Path]:
    """A name under perception/weights/ or a path to a .pt file -> (weights .pt, model card .json)."""
    path = Path(name_or_path)
    if path.suffix != ".pt":
        path = WEIGHTS_DIR / f"{name_or_path}.pt"
    return path, path.with_suffix(".json")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_encoder(encoder: Encoder, name_or_path: str | os.PathLike, card: dict) -> Path:
    """Atomically write the state dict and the model card (architecture + whatever `card` holds)."""
    pt, js = weights_paths(name_or_path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    data = io.BytesIO()
    torch.save(state, data)  # in memory: torch's zip writer would mask a full disk with a RuntimeError
    atomic_write(pt, lambda f: f.write(data.getbuffer()))
    card = {**card, "architecture": encoder.config_dict(), "sha256": file_sha256(pt)}
    write_json_atomic(js, card, sort_keys=False)
    return pt


def load_encoder(name_or_path: str | os.PathLike = DEFAULT_WEIGHTS, device: str | torch.device = "cpu") -> Encoder:
    pt, js = weights_paths(name_or_path)
    if not pt.exists():
        raise WeightsError(f"no encoder weights at {pt}; train them with `python -m perception.train`")
    try:
        card = read_json(js, max_bytes=SMALL_FILE_BYTES)
        config = EncoderConfig.from_card(card["architecture"])
    except FileNotFoundError:
        raise WeightsError(f"model card {js} is missing (it holds the architecture of {pt.name})") from None
    except LoadError as err:  # not JSON or UTF-8, or a FIFO, too big, too deep (scenarios/load.py)
        raise WeightsError(f"model card {js} is corrupt: {err.reason}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"model card {js} is corrupt: {err}") from None
    except OSError as err:
        raise WeightsError(f"cannot read model card {js}: {err.strerror or err}") from None
    state = load_state_file(pt, WeightsError, "an encoder's state dict")
    encoder = Encoder(config)
    try:
        encoder.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise WeightsError(f"{pt} does not match the architecture in {js.name}: {str(err).splitlines()[0]}") from None
    return encoder.to(device).eval()

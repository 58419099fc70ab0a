"""The shipped encoder: loads safely and actually perceives, on seeds it never trained on."""

import json

import numpy as np
import torch
import pytest

from perception import collect
from perception.dataset import perception_targets
from perception.metrics import score
from perception.weights import WEIGHTS_DIR, file_sha256, load_encoder
from sim import CameraConfig


@pytest.fixture(scope="module")
def held_out_sample():
    """40 frames from test seeds of two scenarios (collection is deterministic: a fixed sample)."""
    frames, targets, views = [], [], []
    for name in ("highway", "roundabout"):
        arrays = collect.collect_job(name, "test", samples=20, camera=CameraConfig.highway_env())["arrays"]  # v1's camera
        frames.append(arrays["frames"])
        views.append(arrays["view"])
        targets += [perception_targets(t, v) for t, v in zip(arrays["truth"], arrays["view"])]
    return np.concatenate(frames), np.stack(targets), np.concatenate(views)


def test_shipped_weights_match_their_model_card():
    card = json.loads((WEIGHTS_DIR / "default.json").read_text())
    assert card["sha256"] == file_sha256(WEIGHTS_DIR / "default.pt")
    assert (WEIGHTS_DIR / "default.pt").stat().st_size < 5_000_000
    assert {"data", "recipe", "test_metrics", "command"} <= set(card)


def test_shipped_weights_beat_predicting_no_vehicles(held_out_sample):
    frames, targets, views = held_out_sample
    encoder = load_encoder("default")  # torch.load(weights_only=True) inside
    ours = score(encoder.predict_truth(frames, views), targets)
    nothing = np.zeros_like(targets)
    nothing[:, 0] = targets[:, 0]
    baseline = score(nothing, targets)
    assert baseline["f1"] == 0
    assert ours["f1"] > 0.8, ours
    assert ours["position_mae"] < 2.0, ours


def perceived_scores(encoder, arrays: dict) -> dict:
    """An encoder's perception scores on collected arrays (perception.collect.collect_job's)."""
    targets = np.stack([perception_targets(t, v) for t, v in zip(arrays["truth"], arrays["view"])])
    return score(encoder.predict_truth(arrays["frames"], arrays["view"]), targets)


def test_the_camera_encoder_reads_the_world_state_camera_and_perceives():
    """CAMERA_WEIGHTS (v4) is the world-state camera's encoder: its card holds the default camera
    contract, and on fresh test seeds it finds the cars and the lane. v2 and v3, earlier versions on
    the "own" anchor, still match their cards (checkpoints trained with `encoder: v2` load them)."""
    from perception.weights import CAMERA_WEIGHTS

    for name in (CAMERA_WEIGHTS, "v3", "v2"):
        card = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        assert card["sha256"] == file_sha256(WEIGHTS_DIR / f"{name}.pt")
        # v2's was written before the camera had an `anchor`: it reads as "own", v3's camera's
        expected = CameraConfig() if name == CAMERA_WEIGHTS else CameraConfig(anchor="own")  # v2, v3: "own"
        assert CameraConfig.from_contract(card["architecture"]["camera"]) == expected
    encoder = load_encoder(CAMERA_WEIGHTS)
    assert encoder.config.camera_config == CameraConfig()
    arrays = collect.collect_job("merge", "test", samples=20)["arrays"]  # the default camera: ours
    ours = perceived_scores(encoder, arrays)
    assert ours["f1"] > 0.9 and ours["position_mae"] < 1.0, ours
    lane = encoder.predict_lane(arrays["frames"])
    assert np.abs(lane[:, 1] - arrays["lane"][:, 1]).mean() < 0.5  # lateral offset [m]


def test_the_v4_encoder_reads_the_heading_anchored_camera_and_perceives():
    """v4 is v3's recipe on the camera anchored at the newest heading (sim/camera.py ANCHORS): its
    card holds that contract, and its features come from that camera (make_env builds the
    encoder's own camera under obs="features")."""
    from sim import make_env

    card = json.loads((WEIGHTS_DIR / "v4.json").read_text())
    assert card["sha256"] == file_sha256(WEIGHTS_DIR / "v4.pt")
    camera = CameraConfig(anchor="heading")
    assert CameraConfig.from_contract(card["architecture"]["camera"]) == camera
    encoder = load_encoder("v4")
    assert make_env("merge", obs="features", encoder="v4").camera == camera
    arrays = collect.collect_job("merge", "test", samples=20, camera=camera)["arrays"]
    ours = perceived_scores(encoder, arrays)
    assert ours["f1"] > 0.9 and ours["position_mae"] < 1.0 and ours["velocity_mae"] < 2.0, ours


def test_v5_is_v4_with_a_wide_detector_and_the_same_features():
    """PERCEPTION_WEIGHTS (v5): v4's trunk, slot and lane heads to the bit, so an agent trained on
    v4's features reads the same numbers from v5; only the detection head differs (wide), and it
    perceives cars on fresh test seeds."""
    from perception.weights import CAMERA_WEIGHTS, PERCEPTION_WEIGHTS

    card = json.loads((WEIGHTS_DIR / f"{PERCEPTION_WEIGHTS}.json").read_text())
    assert card["sha256"] == file_sha256(WEIGHTS_DIR / f"{PERCEPTION_WEIGHTS}.pt")
    v4, v5 = load_encoder(CAMERA_WEIGHTS), load_encoder(PERCEPTION_WEIGHTS)
    assert v5.config.detector == "wide" and v5.config.camera_config == v4.config.camera_config == CameraConfig()
    kept = {k: v for k, v in v4.state_dict().items() if not k.startswith("detect.")}
    for key, value in kept.items():
        assert torch.equal(v5.state_dict()[key], value), key
    arrays = collect.collect_job("roundabout", "test", samples=20)["arrays"]
    frames = torch.from_numpy(arrays["frames"]).float() / 255
    assert torch.equal(v5.features(frames), v4.features(frames))
    ours = perceived_scores(v5, arrays)
    assert ours["f1"] > 0.9 and ours["position_mae"] < 1.0 and ours["velocity_mae"] < 4.0, ours

"""The pretraining command: fine-tuning from shipped weights that predate a head."""

import json

import pytest
import torch

import scenarios
from perception import collect, train
from perception.encoder import Encoder, EncoderConfig
from perception.weights import WeightsError, load_encoder, save_encoder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    assert collect.main(["--out", str(out), "--train", "8", "--val", "4", "--test", "4", "--workers", "2"]) == 0
    return out


def test_fine_tuning_keeps_the_trunk_and_adds_the_lane_head(tmp_path, shards):
    torch.manual_seed(0)
    old = Encoder(EncoderConfig())
    save_encoder(old, tmp_path / "old.pt", {})
    state = torch.load(tmp_path / "old.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("lane_head.")}, tmp_path / "old.pt")  # pre-lane weights
    new = tmp_path / "new.pt"
    assert train.main(["--data", str(shards), "--name", str(new), "--epochs", "1", "--lr", "1e-9", "--threads", "1",
                       "--init", str(tmp_path / "old.pt")]) == 0
    tuned = load_encoder(new)
    # A learning rate of 1e-9 leaves the weights where --init put them (batch-norm statistics aside).
    torch.testing.assert_close(tuned.stem[0].weight, old.stem[0].weight, atol=1e-6, rtol=0)
    card = json.loads(new.with_suffix(".json").read_text())
    assert card["recipe"]["initialised_from"]["weights"].endswith("old.pt")
    assert {"lateral_mae", "heading_error_r2", "on_road_accuracy"} <= set(card["test_metrics"]["racetrack"])
    # the held-out scenario's val seeds are reported beside, not inside, the val metrics that select
    assert card["held_out_val_metrics"]["frames"] == 2 * 4  # u-turn and its twin u-turn-v0, 4 frames each
    assert card["val_metrics"]["frames"] == 4 * (len(scenarios.names()) - 2)


def test_init_from_weights_of_another_architecture_is_one_clear_error(tmp_path, shards, capsys):
    save_encoder(Encoder(EncoderConfig(features=32)), tmp_path / "small.pt", {})
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--data", str(shards), "--name", str(tmp_path / "x.pt"), "--epochs", "1",
                    "--init", str(tmp_path / "small.pt")])
    assert exit_info.value.code == 2
    assert "does not match this encoder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--data", str(shards), "--init", str(tmp_path / "missing.pt")])
    assert "no weights at" in capsys.readouterr().err


def test_extra_collections_join_the_training_and_validation_data(tmp_path, shards):
    """--extra: e.g. whole racetrack laps from other drivers beside the standard collection; the
    test split (the card's metrics) stays --data's."""
    laps = tmp_path / "laps"
    assert collect.main(["--out", str(laps), "--scenarios", "racetrack", "--splits", "train,val", "--train", "6",
                         "--val", "3", "--policies", "stanley", "--max-steps", "300", "--workers", "1"]) == 0
    new = tmp_path / "new.pt"
    assert train.main(["--data", str(shards), "--extra", str(laps), "--name", str(new), "--epochs", "1",
                       "--threads", "1"]) == 0
    card = json.loads(new.with_suffix(".json").read_text())
    base = json.loads((shards / "manifest.json").read_text())["shards"]
    trained = sum(s["samples"] for s in base if s["split"] == "train")
    assert card["data"]["train_samples"] == trained + 6
    assert card["data"]["extra"][str(laps)]["policies"] == ["stanley"]
    assert set(card["test_metrics"]) >= {"racetrack", "merge"}


def test_detector_only_training_keeps_the_features_agents_read(tmp_path, shards):
    """--detector wide --detector-only: a new detection head on an encoder's trunk; the features
    (what agents trained on that encoder read) stay bit-identical, BatchNorm statistics included."""
    torch.manual_seed(0)
    base = Encoder(EncoderConfig())
    save_encoder(base, tmp_path / "base.pt", {})
    new = tmp_path / "wide.pt"
    assert train.main(["--data", str(shards), "--name", str(new), "--epochs", "1", "--lr", "1e-2", "--threads", "1",
                       "--init", str(tmp_path / "base.pt"), "--detector", "wide", "--detector-only"]) == 0
    wide = load_encoder(new)
    assert wide.config.detector == "wide" and wide.detect.wide[-1].weight.abs().sum() > 0  # the branch learnt
    frames = torch.rand(3, *wide.config.camera_config.shape)
    base.eval()
    torch.testing.assert_close(wide.features(frames), base.features(frames), atol=0, rtol=0)
    card = json.loads(new.with_suffix(".json").read_text())
    assert card["architecture"]["detector"] == "wide"
    assert card["recipe"]["trained"].startswith("the detection head alone")


def test_an_unknown_detector_is_one_clear_error(tmp_path, shards, capsys):
    with pytest.raises(ValueError, match="unknown detector 'huge'; choose one of local, wide"):
        EncoderConfig(detector="huge")
    save_encoder(Encoder(EncoderConfig()), tmp_path / "crafted.pt", {})
    card = json.loads((tmp_path / "crafted.json").read_text())
    card["architecture"]["detector"] = "huge"
    (tmp_path / "crafted.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="crafted.json is corrupt: unknown detector 'huge'"):
        load_encoder(tmp_path / "crafted.pt")
    with pytest.raises(SystemExit):
        train.main(["--data", str(shards), "--detector-only"])
    assert "give it with --init" in capsys.readouterr().err


def test_a_wide_detector_starts_from_a_local_ones_outputs(tmp_path):
    """Initialised from weights with the local head, the wide detector's branch starts at zero:
    fine-tuning starts where those weights are, not from a fresh head."""
    torch.manual_seed(0)
    local = Encoder(EncoderConfig())
    save_encoder(local, tmp_path / "local.pt", {})
    wide = Encoder(EncoderConfig(detector="wide"))
    train.initialise_from(wide, str(tmp_path / "local.pt"))
    frames = torch.rand(2, *local.config.camera_config.shape)
    local.eval(), wide.eval()
    torch.testing.assert_close(wide(frames)[0], local(frames)[0], atol=0, rtol=0)
    save_encoder(wide, tmp_path / "wide.pt", {})
    with pytest.raises(WeightsError, match="wide.pt has a wide detector: fine-tune it with --detector wide"):
        train.initialise_from(Encoder(EncoderConfig()), str(tmp_path / "wide.pt"))

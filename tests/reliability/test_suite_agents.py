"""Agents checked before anything plays (issue 18): a crafted checkpoint or a changed zoo file is
one line and exit code 2 before a suite's first episode (not a failed episode for every seed, a
ranked row and exit 0); zoo files are checked against zoo/manifest.json when played; `zoo ship`
loads weights only; the checkpoint hash reads only a checkpoint's own files."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from agents import zoo
from agents.resolve import checkpoint_hash, resolve_agent
from tests.reliability.conftest import one_episode_suite
from tests.reliability.test_bounded_loader import deadline
from tests.reliability.test_checkpoints import write_crafted

ROOT = Path(__file__).resolve().parents[2]
MERGE_DQN = ROOT / "zoo" / "merge" / "dqn"


def test_a_crafted_checkpoint_stops_a_suite_before_its_first_episode(cli, tmp_path):
    folder = Path(shutil.copytree(MERGE_DQN, tmp_path / "crafted"))
    marker = tmp_path / "MARKER"
    write_crafted(folder / "model.pt", marker, "torch.save")
    suite = one_episode_suite(tmp_path / "in")
    line = cli("--suite", suite, "--agent", "idle", "--agent", str(folder), "--workers", "1")
    assert f"refused {folder / 'model.pt'}: it is not plain weights" in line  # and no reports/ (cli)
    assert not marker.exists()


def test_a_corrupt_model_file_stops_a_suite(cli, tmp_path):
    folder = Path(shutil.copytree(MERGE_DQN, tmp_path / "corrupt"))
    (folder / "model.pt").write_bytes(b"not a torch file")
    line = cli("--suite", one_episode_suite(tmp_path / "in"), "--agent", str(folder), "--workers", "1")
    assert f"cannot load {folder / 'model.pt'}: not a plain weights file" in line


def test_weights_that_fit_no_network_of_the_agent_stop_a_suite_before_its_first_episode(cli, tmp_path):
    """Plain weights of another agent (the zoo's merge ppo) under a dqn config.json: they load as
    weights, so only building the network finds them (before: every episode an error record, the
    agent ranked with 0, exit 0)."""
    folder = Path(shutil.copytree(MERGE_DQN, tmp_path / "foreign"))
    shutil.copy(ROOT / "zoo" / "merge" / "ppo" / "model.pt", folder / "model.pt")
    line = cli("--suite", one_episode_suite(tmp_path / "in"), "--agent", "idle", "--agent", str(folder),
               "--workers", "1")
    assert f"{folder}/model.pt does not fit a dqn network" in line  # and no reports/ (cli)


def test_a_crafted_zoo_file_stops_a_suite_and_names_the_file(cli, tmp_path, tmp_zoo):
    marker = tmp_path / "MARKER"
    write_crafted(tmp_zoo / "merge" / "dqn" / "model.pt", marker, "torch.save")
    line = cli("--suite", one_episode_suite(tmp_path / "in"), "--agent", "zoo:dqn", "--workers", "1")
    assert f"{tmp_zoo / 'merge' / 'dqn' / 'model.pt'} differs from {tmp_zoo / 'manifest.json'}" in line
    assert "git checkout" in line and not marker.exists()


def test_a_changed_zoo_file_is_refused_when_played(cli, tmp_zoo):
    # Valid weights of the same network (merge-dense's dqn), so only the manifest can tell.
    shutil.copy(ROOT / "zoo" / "merge-dense" / "dqn" / "model.pt", tmp_zoo / "merge" / "dqn" / "model.pt")
    line = cli("--scenario", "merge", "--agent", "dqn", "--episodes", "1", "--no-window")  # no runs/: the zoo's
    assert f"{tmp_zoo / 'merge' / 'dqn' / 'model.pt'} differs from {tmp_zoo / 'manifest.json'}" in line


def test_a_zoo_folder_missing_from_the_manifest_is_refused(tmp_zoo):
    shutil.copytree(tmp_zoo / "merge" / "dqn", tmp_zoo / "merge" / "mine")
    with pytest.raises(zoo.AgentError, match=r"zoo/merge/mine is not in .*manifest.json"):
        zoo.verify_shipped(tmp_zoo / "merge" / "mine")


def test_a_zoo_folder_keeps_the_hash_it_had_when_every_file_was_hashed():
    """The hash reads config.json and model.pt only. A zoo folder holds nothing else, so the
    hashes that results.json files and replays recorded before stay the same."""
    digest = hashlib.sha256()
    for file in sorted(p for p in MERGE_DQN.rglob("*") if p.is_file()):  # the formula before
        digest.update(str(file.relative_to(MERGE_DQN)).encode() + b"\0" + file.read_bytes() + b"\0")
    assert resolve_agent(str(MERGE_DQN)).checkpoint_hash == checkpoint_hash(MERGE_DQN) == digest.hexdigest()[:16]


def test_zoo_ship_refuses_a_crafted_run_in_one_line(tmp_path, tmp_zoo, capsys):
    run = Path(shutil.copytree(MERGE_DQN, tmp_path / "runs" / "merge" / "dqn" / "r"))
    marker = tmp_path / "MARKER"
    write_crafted(run / "model.pt", marker, "torch.save")
    manifest = (tmp_zoo / "manifest.json").read_bytes()
    with pytest.raises(SystemExit) as stop:
        zoo.main(["ship", str(run)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"refused {run / 'model.pt'}: it is not plain weights" in err
    assert not marker.exists() and (tmp_zoo / "manifest.json").read_bytes() == manifest


def test_the_checkpoint_hash_reads_only_the_checkpoint_files(tmp_path):
    """A run folder holds TensorBoard events, last/ and whatever a user drops there; a 2 GiB file
    there was read into memory whole each time the folder was named."""
    folder = Path(shutil.copytree(MERGE_DQN, tmp_path / "run"))
    with open(folder / "events.out.tfevents.1", "wb") as out:
        out.truncate(2 << 30)  # sparse: no disk used, but 2 GiB to read
    (folder / "last").mkdir()
    (folder / "last" / "model.pt").write_bytes(b"the latest state")
    with deadline(10):
        assert checkpoint_hash(folder) == checkpoint_hash(MERGE_DQN)

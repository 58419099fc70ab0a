"""agents/resolve.py: one hash for a checkpoint folder, whichever way it is named."""

import json
from pathlib import Path

import run_sim
from agents.resolve import checkpoint_hash, resolve_agent
from agents.runs import ZOO_DIR
from scenarios.suite import SuiteScenario

MERGE = SuiteScenario("merge", None, ())


def test_a_zoo_folder_has_one_hash_from_a_suite_label_a_folder_a_name_and_a_replay(tmp_path, monkeypatch, capsys):
    folder = ZOO_DIR / "merge" / "dqn"
    expected = checkpoint_hash(folder)
    monkeypatch.chdir(tmp_path)  # no runs/ of the user's own: `dqn` plays the zoo's
    assert resolve_agent("zoo:dqn", [MERGE]).checkpoint_for("merge") == (str(folder.resolve()), expected)
    assert resolve_agent(str(folder)).checkpoint_hash == expected  # --agent zoo/merge/dqn
    assert resolve_agent("dqn", [MERGE]).checkpoint_for("merge") == (str(folder.resolve()), expected)
    # A watched episode's replay (run_sim.py --save-replay) records the same hash.
    replay = tmp_path / "ep.json"
    assert run_sim.main(["--scenario", "merge", "--agent", "dqn", "--checkpoint", str(folder), "--episodes", "1",
                         "--no-window", "--save-replay", str(replay)]) == 0
    assert json.loads(replay.read_text())["checkpoint_hash"] == expected


def test_the_hash_follows_the_files_not_the_path(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b" / "deeper"
    for folder in (a, b):
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"weights")
        (folder / "config.json").write_text('{"agent": "dqn"}')
    assert checkpoint_hash(a) == checkpoint_hash(b) and len(checkpoint_hash(a)) == 16
    (b / ".lock").write_text("")  # dot files are not part of a checkpoint
    assert checkpoint_hash(a) == checkpoint_hash(b)
    (b / "model.pt").write_bytes(b"other weights")
    assert checkpoint_hash(a) != checkpoint_hash(b)
    assert checkpoint_hash(Path(a)) == checkpoint_hash(str(a))

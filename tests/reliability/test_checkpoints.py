"""Checkpoints users pass around: every broken, mismatched or hostile one is refused with one
clear line (AgentError, WeightsError, or exit code 2 on the command line), a crafted file never
runs its code, and a SIGKILL in the middle of saving leaves a loadable checkpoint."""

import json
import os
import pickle
import pickletools
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import agents
import agents.checkpoint
from agents.base import AgentError
from agents.dqn import DQNAgent, DQNConfig
from agents.sb3 import PPOAgent
from perception.weights import WEIGHTS_DIR, WeightsError, load_encoder
from sim import make_env
from sim.files import temp_files

ROOT = Path(__file__).resolve().parents[2]


class RunsACommand:
    """Unpickling this calls os.system(command): what a hostile model.pt would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def pickled_globals(path: Path) -> set[str]:
    """The module.name of every global a pickle (or torch.save's data.pkl) would import, read
    from its opcodes: nothing is unpickled."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            names.add(f"{strings[-2]}.{strings[-1]}")
    return names


def write_crafted(path: Path, marker: Path, how: str) -> None:
    """A model file, shaped like a checkpoint, whose unpickling would `touch marker`."""
    state = {"learner": RunsACommand(f"touch {marker}"), "model": RunsACommand(f"touch {marker}"),
             "obs_shape": torch.tensor([11, 6])}
    if how == "torch.save":
        torch.save(state, path)  # the zip format torch writes
    elif how == "pickle protocol 2":
        path.write_bytes(pickle.dumps(state, protocol=2))  # a bare pickle, as torch's legacy format
    else:
        path.write_bytes(pickle.dumps(state))  # protocol 5: opcodes the weights-only unpickler rejects first


@pytest.fixture(scope="module")
def env():
    return make_env("merge", obs="kinematics")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, env):
    """A real (untrained) checkpoint of our dqn and of SB3's ppo on merge, kinematics input."""
    root = tmp_path_factory.mktemp("checkpoints")
    dqn = DQNAgent(env, seed=0, config=DQNConfig(obs="kinematics"), scenario="merge").save(root / "dqn")
    ppo_settings = PPOAgent.config_class.from_dict({"obs": "kinematics"})
    ppo = PPOAgent(env, seed=0, config=ppo_settings, scenario="merge").save(root / "ppo")
    return {"dqn": dqn, "ppo": ppo}


@pytest.fixture(params=["dqn", "ppo"])
def copy(request, saved, tmp_path):
    """(agent name, a fresh copy of its checkpoint folder) to damage."""
    return request.param, Path(shutil.copytree(saved[request.param], tmp_path / request.param))


def refused(name: str, folder: Path, env, **kwargs) -> str:
    """The message of the AgentError that loading `folder` as agent `name` raises; it is one line."""
    with pytest.raises(AgentError) as err:
        agents.get_class(name).load(folder, env, **kwargs)
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message, message
    return message


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    config = {k: v for k, v in config.items() if v is not ...}  # `...` deletes the key
    (folder / "config.json").write_text(json.dumps(config))


def test_an_undamaged_copy_loads(copy, env):
    """The control for every test below: the refusals come from the damage, not the copy."""
    name, folder = copy
    assert agents.get_class(name).load(folder, env, scenario="merge").scenario == "merge"


def test_a_truncated_model_file_is_refused(copy, env):
    name, folder = copy
    data = (folder / "model.pt").read_bytes()
    for cut in (0, 64, len(data) // 2, len(data) - 1):
        (folder / "model.pt").write_bytes(data[:cut])
        message = refused(name, folder, env)
        assert f"cannot load {folder / 'model.pt'}: the file is truncated or corrupt" in message, (cut, message)


def test_a_missing_model_file_is_refused(copy, env):
    name, folder = copy
    (folder / "model.pt").unlink()
    assert refused(name, folder, env) == f"{folder} has no model.pt (a checkpoint folder holds model.pt and config.json)"


def test_a_model_file_of_another_agent_type_is_refused(copy, saved, env):
    name, folder = copy
    other = "ppo" if name == "dqn" else "dqn"
    shutil.copy(saved[other] / "model.pt", folder / "model.pt")
    expected = "a dqn network" if name == "dqn" else "a ppo policy"
    assert f"{folder}/model.pt does not fit {expected}" in refused(name, folder, env)


def test_a_model_file_that_is_not_a_dict_of_state_dicts_is_refused(copy, env):
    name, folder = copy
    torch.save(torch.zeros(3), folder / "model.pt")
    assert "holds a Tensor, not a checkpoint's dict of state dicts" in refused(name, folder, env)


@pytest.mark.parametrize("damage, expected", [
    ("missing", "no checkpoint at {folder} (config.json missing)"),
    ("not json", "{folder}/config.json is corrupt: "),
    ("not utf-8", "{folder}/config.json is corrupt: 'utf-8' codec can't decode byte 0xff"),
    ("not an object", "{folder}/config.json is corrupt: expected a JSON object"),
    ("a folder", "cannot read {folder}/config.json: Is a directory"),
    ("no settings", "{folder}/config.json has no valid"),
])
def test_a_missing_or_corrupt_config_is_refused(copy, env, damage, expected):
    name, folder = copy
    file = folder / "config.json"
    text = file.read_text()
    if damage == "missing":
        file.unlink()
    elif damage == "not json":
        file.write_text(text[: len(text) // 2])  # cut mid-way, as a non-atomic writer would leave it
    elif damage == "not utf-8":
        file.write_bytes(text.encode("utf-16"))  # e.g. re-saved by an editor: starts with 0xff 0xfe
    elif damage == "not an object":
        file.write_text("[1, 2, 3]")
    elif damage == "a folder":
        file.unlink()
        file.mkdir()
    else:
        edit_config(folder, dqn=..., settings=...)
    assert expected.format(folder=folder) in refused(name, folder, env)


def test_another_scenario_is_refused(copy):
    name, folder = copy
    message = refused(name, folder, make_env("highway", obs="kinematics"), scenario="highway")
    assert message == f"{folder} was trained on scenario 'merge', not 'highway'"


def test_another_observation_mode_is_refused(copy):
    name, folder = copy
    camera = make_env("merge", obs="camera")  # its shape follows the camera contract (docs/camera.md)
    message = refused(name, folder, camera, scenario="merge")
    shape = camera.observation_space.shape
    assert message == f"{folder} was trained on obs='kinematics' (11, 6); this env gives {shape}"


def test_another_agent_types_checkpoint_is_refused(copy, env):
    name, folder = copy
    other = "a2c" if name == "ppo" else "sb3-dqn"
    assert refused(other, folder, env) == f"{folder} holds a {name!r} checkpoint, not {other!r}"


def test_a_checkpoint_from_a_newer_sandbox_says_to_upgrade(copy, env):
    name, folder = copy
    edit_config(folder, format_version=agents.checkpoint.FORMAT_VERSION + 1)
    message = refused(name, folder, env)
    version = agents.checkpoint.FORMAT_VERSION
    assert message.startswith(f"{folder} was written by a newer version of the sandbox (checkpoint format "
                              f"{version + 1}; this one reads format {version}): upgrade the sandbox")


def test_a_checkpoint_from_an_older_sandbox_says_so(copy, env, monkeypatch):
    name, folder = copy
    version = agents.checkpoint.FORMAT_VERSION
    monkeypatch.setattr(agents.checkpoint, "FORMAT_VERSION", version + 1)  # as if the format had moved on since
    message = refused(name, folder, env)
    assert message.startswith(f"{folder} was written by an older version of the sandbox (checkpoint format "
                              f"{version}; this one reads format {version + 1})")


@pytest.mark.parametrize("version", [..., 0, -1, "1", 1.0, True, None])
def test_an_unknown_format_version_gets_its_own_message(copy, env, version):
    name, folder = copy
    edit_config(folder, format_version=version)
    found = "no format_version" if version in (..., None) else f"format_version {version!r}"
    assert refused(name, folder, env).startswith(f"{folder} has {found} in config.json, which no version of the "
                                                 "sandbox wrote")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes protocol 5 before refusing it
@pytest.mark.parametrize("how", ["torch.save", "pickle protocol 2", "pickle"])
def test_a_crafted_model_file_is_refused_and_its_code_never_runs(copy, env, tmp_path, how):
    name, folder = copy
    marker = tmp_path / "MARKER"
    write_crafted(folder / "model.pt", marker, how)
    message = refused(name, folder, env)
    assert not marker.exists(), "loading the checkpoint ran the file's code"
    if how == "pickle":
        assert message == (f"cannot load {folder / 'model.pt'}: not a plain weights file (corrupt, or it holds "
                           "objects other than tensors and plain values; nothing was run)")
    else:
        assert message == (f"refused {folder / 'model.pt'}: it is not plain weights; loading it would call "
                           "posix.system (nothing was run: only tensors and plain values are loaded). "
                           "Use files from trusted sources")
    # The control, read without unpickling: the file does call os.system when unpickled.
    assert "posix.system" in pickled_globals(folder / "model.pt")


def test_crafted_or_truncated_perception_weights_are_refused(tmp_path):
    marker = tmp_path / "MARKER"
    weights = tmp_path / "crafted.pt"
    write_crafted(weights, marker, "torch.save")
    shutil.copy(WEIGHTS_DIR / "default.json", weights.with_suffix(".json"))  # a valid model card beside it
    with pytest.raises(WeightsError) as err:
        load_encoder(weights)
    assert str(err.value).startswith(f"refused {weights}: it is not plain weights; loading it would call posix.system")
    assert not marker.exists()
    weights.write_bytes((WEIGHTS_DIR / "default.pt").read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="the file is truncated or corrupt"):
        load_encoder(weights)
    weights.with_suffix(".json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(WeightsError, match="is corrupt: 'utf-8' codec can't decode"):
        load_encoder(weights)


def test_the_command_line_refuses_a_crafted_checkpoint_in_one_line(saved, tmp_path):
    folder = Path(shutil.copytree(saved["dqn"], tmp_path / "crafted"))
    marker = tmp_path / "MARKER"
    write_crafted(folder / "model.pt", marker, "torch.save")
    result = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--agent", "dqn",
                             "--checkpoint", str(folder), "--episodes", "1", "--no-window"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"refused {folder / 'model.pt'}: it is not plain weights" in result.stderr
    assert not marker.exists()


# A server that imports the sandbox once, then forks one saver per request. Each saver rewrites the
# same checkpoint (about 2.4 MB of state dicts) in a loop, a little different each time, until the
# test SIGKILLs it; it says "<pid> saved" once its first save is complete.
SAVER = """
import os, sys, torch
torch.set_num_threads(1)
from agents.dqn import DQNAgent, DQNConfig
from sim import make_env
agent = DQNAgent(make_env("merge", obs="kinematics"), seed=0, config=DQNConfig(obs="kinematics", hidden=512),
                 scenario="merge")
folder = sys.argv[1]
agent.save(folder)
print("ready", flush=True)
for _ in sys.stdin:
    agent.steps += 1_000_000  # each saver counts on from where the last one's steps could have reached
    pid = os.fork()
    if pid == 0:
        try:
            for i in range(10**9):
                agent.steps += 1
                with torch.no_grad():
                    agent.learner.q.advantage.bias.add_(1.0)
                agent.save(folder)
                if i == 0:
                    print(os.getpid(), "saved", flush=True)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


def test_sigkill_while_saving_leaves_a_loadable_checkpoint_and_no_pile_of_temp_files(tmp_path, env):
    folder = tmp_path / "checkpoint"
    server = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    rng = random.Random(0)
    kills = mid_write = 0
    last_steps = 0
    try:
        for line in server.stdout:  # imports may print banners first
            if line.strip() == "ready":
                break
        else:
            pytest.fail("the saver process did not start")
        # At random moments; until at least two kills landed while a temp file was being written.
        while kills < 6 or (mid_write < 2 and kills < 30):
            server.stdin.write("save\n")
            server.stdin.flush()
            pid, said = server.stdout.readline().split()
            assert said == "saved"
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(int(pid), signal.SIGKILL)
            assert server.stdout.readline().strip() == "reaped"
            kills += 1
            # Complete files, old or new: each loads, and together they are a working agent.
            torch.load(folder / "model.pt", weights_only=True)
            steps = json.loads((folder / "config.json").read_text())["steps"]
            agent = DQNAgent.load(folder, env, scenario="merge")
            assert agent.steps == steps >= last_steps
            last_steps = steps
            # Temp files: only the killed saver's own (its predecessors' were removed by its first save).
            temps = temp_files(folder / "model.pt") + temp_files(folder / "config.json")
            assert len(temps) <= 2 and all(f".{pid}." in t.name for t in temps), temps
            mid_write += bool(temps)
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and any saver still running
        server.wait()
    assert mid_write >= 1, f"none of {kills} kills landed during a write"
    # The next save (here, by this process) removes the dead saver's temp files.
    DQNAgent.load(folder, env).save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt"]


def test_a_write_removes_temp_files_of_dead_writers_only(tmp_path):
    import sim.files

    target = tmp_path / "model.pt"
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now belongs to no process
    host = sim.files._HOST
    stale = tmp_path / f".model.pt.{host}.{dead.pid}.abcd1234.tmp"
    running = tmp_path / f".model.pt.{host}.{os.getppid()}.abcd1234.tmp"  # a writer still at work
    elsewhere = tmp_path / f".model.pt.other-host.{dead.pid}.abcd1234.tmp"  # a pid on another machine
    other_target = tmp_path / f".config.json.{host}.{dead.pid}.abcd1234.tmp"
    for file in (stale, running, elsewhere, other_target):
        file.write_bytes(b"half a fil")
    sim.files.write_text_atomic(target, "weights")
    assert target.read_text() == "weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (target, running, elsewhere, other_target))


def test_a_model_file_given_instead_of_its_folder_is_refused(saved):
    with pytest.raises(AgentError) as err:
        agents.checkpoint_for(DQNAgent, "merge", str(saved["dqn"] / "model.pt"), None)
    assert str(err.value) == f"{saved['dqn'] / 'model.pt'} is a file; a checkpoint is a folder holding config.json (and model.pt)"


@pytest.mark.parametrize("key, value", [("steps", "abc"), ("total_steps", -5), ("train_seconds", "x"), ("steps", None)])
def test_a_corrupt_training_progress_number_is_refused_in_one_line(tmp_path, key, value):
    env = make_env("merge", obs="kinematics")
    folder = DQNAgent(env, seed=0, config=DQNConfig(obs="kinematics"), scenario="merge").save(tmp_path / "c")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(AgentError, match="config.json is corrupt: steps, total_steps and train_seconds"):
        DQNAgent.load(folder, env)

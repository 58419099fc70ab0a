"""Shared by the reliability tests: `cli`, run_sim.main as a user runs it, checked for the one-line error."""

import signal
from pathlib import Path

import pytest

import run_sim


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """cli(*args) runs run_sim.main from tmp_path/work and returns its one stderr line, after
    checking exit code 2, no traceback, and that nothing under tmp_path was created or changed."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    sigterm = signal.getsignal(signal.SIGTERM)  # --train installs its own handler

    def run(*args: str) -> str:
        before = files_under(tmp_path)
        capsys.readouterr()
        try:
            with pytest.raises(SystemExit) as stop:
                run_sim.main(list(args))
        finally:
            signal.signal(signal.SIGTERM, sigterm)
        out, err = capsys.readouterr()
        assert stop.value.code == 2, (out, err)
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert files_under(tmp_path) == before, "a failed run leaves no file behind"
        return lines[0]

    return run


NOT_UTF8 = b"\xff\xfe\x00bad \xc3\x28"


def write(folder: Path, name: str, content: str | bytes) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


ONE_EPISODE = "description: one merge episode\nseeds: {first: 1000000, count: %d}\nepisodes: 1\nscenarios: [merge]\n"


def one_episode_suite(folder: Path, name: str = "one.yaml", seeds: int = 1) -> str:
    """A suite of merge on `seeds` seeds, one episode each (about a second per episode with idle)."""
    return write(folder, name, ONE_EPISODE % seeds)


@pytest.fixture
def tmp_zoo(tmp_path, monkeypatch):
    """A zoo of our own under tmp_path/zoo: the shipped merge dqn and a copy of the manifest, so a
    test may damage its files; every module that names the zoo folder points there."""
    import shutil

    import agents.runs
    from agents import zoo

    folder = tmp_path / "zoo"
    shutil.copytree(zoo.ZOO_DIR / "merge" / "dqn", folder / "merge" / "dqn")
    shutil.copy(zoo.MANIFEST_FILE, folder / "manifest.json")
    for module, name in ((zoo, "ZOO_DIR"), (agents.runs, "ZOO_DIR")):
        monkeypatch.setattr(module, name, folder)
    monkeypatch.setattr(zoo, "MANIFEST_FILE", folder / "manifest.json")
    return folder

"""The installable project (pyproject.toml): the wheel holds every file of the packages, and an
installed copy plays a shipped zoo agent from another folder, with the repository off sys.path.

The wheel is built from a copy of the files git knows (a clean clone's), with the setuptools
installed here (--no-build-isolation: no download). A full `pip install .` into a fresh venv, with
every dependency, takes minutes: .ci/run does that one.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "agents", "perception", "scenarios", "scoring", "zoo")  # as pyproject.toml lists them


def source_files() -> list[str]:
    """The files of the packages and run_sim.py that git tracks or would (untracked, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *PACKAGES,
                             "run_sim.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(name for name in listed.split("\0") if name and (ROOT / name).is_file())  # not a deleted one


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout: the files to package are the ones git tracks")
    source = tmp_path_factory.mktemp("source")  # a build writes build/ and *.egg-info: not into the repository
    for name in ["pyproject.toml", *source_files()]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            str(source), "-w", str(out)], capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    [built] = out.glob("*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_packages_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    shipped = {name for name in names if not name.split("/")[0].endswith(".dist-info")}
    expected = set(source_files())
    assert not expected - shipped, f"not declared as package data in pyproject.toml: {sorted(expected - shipped)}"
    assert not shipped - expected, f"in the wheel but not in the packages: {sorted(shipped - expected)}"
    assert {"perception/weights/default.pt", "zoo/manifest.json", "scenarios/catalog/merge.yaml"} <= shipped
    assert "run-sim = run_sim:main" in entry_points


def test_an_installed_copy_plays_the_zoo_from_another_folder_and_refuses_to_rewrite_docs(wheel, tmp_path):
    site, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stderr[-3000:]
    # Only the installed copy is importable: PYTHONPATH is site, the current folder is work.
    env = dict(os.environ, PYTHONPATH=str(site), SDL_VIDEODRIVER="offscreen")
    played = subprocess.run([sys.executable, "-m", "run_sim", "--scenario", "merge", "--agent", "zoo", "--episodes", "1",
                             "--no-window", "--save-replay", "ep.json"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=180)
    assert played.returncode == 0, played.stderr[-3000:]
    assert f"checkpoint {site / 'zoo' / 'merge'}" in played.stdout, played.stdout
    assert "1 episodes:" in played.stdout and (work / "ep.json").is_file()
    scored = subprocess.run([sys.executable, "-m", "agents.zoo", "score"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=120)
    assert scored.returncode == 1 and "score rewrites a checkout's docs/zoo.md" in scored.stderr
    assert not (site / "docs").exists()

"""scoring.score_suite, the one scoring API, called as a library (no run_sim.py)."""

import errno

import pytest

import scoring
import scoring.report


def test_score_suite_returns_the_records_and_summary_and_resumes(tiny_suite, tmp_path):
    score = scoring.score_suite(str(tiny_suite), ["idm"], reports_dir=tmp_path, run="r")
    assert (score.ran, score.skipped, score.interrupted) == (12, 0, False)
    assert score.folder == tmp_path / "tiny" / "r" and (score.folder / "leaderboard.md").exists()
    assert len(score.records) == 12 and score.summary["suite"]["idm"]["episodes"] == 12
    again = scoring.score_suite(score.suite, ["idm"], reports_dir=tmp_path, run="r", resume=True)
    assert (again.ran, again.skipped) == (0, 12) and again.records == score.records


@pytest.mark.parametrize("agents, run, message", [
    (["idm", "nope"], "new", "unknown agent 'nope'"),
    (["random"], "r", "resume with the same --agent list"),
])
def test_setup_errors_are_typed_one_line_and_write_nothing(tiny_suite, tmp_path, agents, run, message):
    scoring.score_suite(str(tiny_suite), ["idm"], reports_dir=tmp_path, run="r", workers=1)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(scoring.SuiteSetupError, match=message) as err:
        scoring.score_suite(str(tiny_suite), agents, reports_dir=tmp_path, run=run, resume=run == "r")
    assert "\n" not in str(err.value) and sorted(tmp_path.rglob("*")) == before


def test_a_full_disk_while_writing_the_reports_is_a_typed_error_naming_the_kept_results(tiny_suite, tmp_path,
                                                                                       monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scoring.report, "write_reports", full_disk)
    with pytest.raises(scoring.ReportsWriteError) as err:
        scoring.score_suite(str(tiny_suite), ["random"], reports_dir=tmp_path, run="r")
    assert err.value.run == "r" and str(err.value) == (
        f"cannot write the reports in {tmp_path}/tiny/r: No space left on device; "
        f"every episode is kept in {tmp_path}/tiny/r/results.json")
    assert len(err.value.results) == 12


def _envpool_suite(tmp_path, scenario="highway-fast-v0"):
    path = tmp_path / "ep.yaml"
    path.write_text(f"description: two registered tasks\nseeds: {{first: 1000000, count: 2}}\nepisodes: 1\n"
                    f"scenarios: [{scenario}, merge-v0]\n")
    return str(path)


def test_a_suite_scores_on_envpool_and_its_run_remembers_the_engine(tmp_path):
    suite = _envpool_suite(tmp_path)
    score = scoring.score_suite(suite, ["idle", "random"], reports_dir=tmp_path / "r", run="e", engine="envpool")
    assert score.ran == 8 and score.results.header["engine"] == "envpool"
    assert all(0.0 <= r["score"]["driving_score"] <= 1.0 for r in score.records)
    with pytest.raises(scoring.SuiteSetupError, match="resume it with that engine"):
        scoring.score_suite(suite, ["idle", "random"], reports_dir=tmp_path / "r", run="e", resume=True)


def test_a_suite_with_a_scenario_envpool_cannot_run_is_refused_before_any_episode(tmp_path):
    with pytest.raises(scoring.SuiteSetupError, match=r"EnvPool cannot run exactly \(roundabout-v0\)") as err:
        scoring.score_suite(_envpool_suite(tmp_path, "roundabout-v0"), ["idle"], reports_dir=tmp_path / "r",
                            engine="envpool")
    assert "\n" not in str(err.value) and not (tmp_path / "r").exists()

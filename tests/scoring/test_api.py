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

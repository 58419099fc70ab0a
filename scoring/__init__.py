"""Scoring agents on suites. The API is score_suite (api.py); underneath: scored episodes
(episodes.py), results file with resume (results.py), backends: processes or Ray (backends.py),
the run loop (run.py), statistics (stats.py) and reports (report.py). The per-episode driving
score itself is sim/score.py; which checkpoint an agent plays, agents/resolve.py."""

from scoring.api import (ReportsWriteError, ResultsWriteError, ScoringError, SuiteScore, SuiteSetupError,
                         SuiteStoppedError, WorkerDiedError, score_suite)

__all__ = ["ReportsWriteError", "ResultsWriteError", "ScoringError", "SuiteScore", "SuiteSetupError",
           "SuiteStoppedError", "WorkerDiedError", "score_suite"]

"""Scoring agents on suites: scored episodes (episodes.py), results file with resume
(results.py), backends: processes or Ray (backends.py), the run loop (run.py), statistics
(stats.py) and reports (report.py). The per-episode driving score itself is sim/score.py."""

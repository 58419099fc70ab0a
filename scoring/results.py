"""reports/<suite>/<run>/results.json: every finished episode, rewritten atomically after each.

The file is a header (suite, run, agents) and one record per episode, one a line, sorted by
(agent, scenario, seed, episode). It is written to a temp file and renamed (os.replace), so
a Ctrl-C or even a SIGKILL leaves either the previous or the new complete file: resuming
reads it and skips the keys already there, so no episode is lost or played twice.
(JSON note: a min_ttc of "never closing in" is written as Infinity, which Python's json reads.)
"""

from __future__ import annotations

import json
from pathlib import Path

from scenarios.fields import (FLAG, MAPPING, TEXT, FieldError, check_fields, integer, list_of, mapping_of, number,
                              or_null)
from scenarios.load import RESULTS_FILE_BYTES, LoadError, read_json
from scoring.episodes import record_key
from sim.files import write_text_atomic

RESULTS_FILE = "results.json"


class ResultsError(ValueError):
    """The results file cannot be resumed (missing, corrupt, or for other agents/suite)."""


# What a resume and the reports read, checked when the file is read (scenarios/fields.py). Optional:
# fields that older files lack.
HEADER = {"suite": TEXT, "run": TEXT, "agents": mapping_of(TEXT, "hashes (text)")}
HEADER_OPTIONAL = {"seeds": list_of(integer(), "integers >= 0"), "episodes": integer(1),
                   "scenarios": list_of(TEXT, "names (text)")}
RECORD = {"agent": TEXT, "agent_name": TEXT, "scenario": TEXT, "seed": integer(), "episode": integer(),
          "outcome": TEXT, "driving_score": number(0, 1), "error": or_null(TEXT), "score": or_null(MAPPING),
          "metrics": or_null(MAPPING)}
RECORD_OPTIONAL = {"env_seed": integer(), "checkpoint_hash": or_null(TEXT)}
SCORE_OPTIONAL = {"progress": number()}
METRICS = {"collisions": integer(), "distance": number(0)}
METRICS_OPTIONAL = {"collision_at_fault": or_null(FLAG)}


def check_results(data) -> None:
    """FieldError naming the first field of results.json data that a resume or a report cannot use."""
    check_fields(data, {"header": MAPPING, "episodes": list_of(MAPPING, "episode records (JSON objects)")})
    check_fields(data["header"], HEADER, HEADER_OPTIONAL, where="header: ")
    for i, record in enumerate(data["episodes"]):
        where = f"episodes[{i}]: "
        check_fields(record, RECORD, RECORD_OPTIONAL, where=where)
        if record["score"] is not None:
            check_fields(record["score"], {}, SCORE_OPTIONAL, where=where + "score.")
        if record["metrics"] is not None:
            check_fields(record["metrics"], METRICS, METRICS_OPTIONAL, where=where + "metrics.")


class Results:
    def __init__(self, folder: Path, header: dict, records: list[dict] | None = None) -> None:
        self.folder = Path(folder)
        self.header = dict(header)  # suite, run, agents ...
        self.records = {record_key(r): r for r in records or []}

    @property
    def path(self) -> Path:
        return self.folder / RESULTS_FILE

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def sorted_records(self) -> list[dict]:
        return [self.records[k] for k in sorted(self.records)]

    def add(self, record: dict) -> None:
        """Add one episode and rewrite the file (atomically)."""
        self.records[record_key(record)] = record
        self.write()

    def write(self) -> None:
        lines = ",\n".join(json.dumps(r, sort_keys=True) for r in self.sorted_records())
        text = '{"header": ' + json.dumps(self.header, sort_keys=True) + ',\n"episodes": [\n' + lines + "\n]}\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text)
        except OSError as err:  # --reports names a file, a read-only folder, a full disk
            raise ResultsError(f"cannot write {self.path}: {err.strerror or err}") from None

    @classmethod
    def load(cls, folder: Path) -> "Results":
        path = Path(folder) / RESULTS_FILE
        try:
            # Infinity stays allowed: it is how a min_ttc of "never closing in" is written. The size
            # bounds it (1.1 kB per episode, about 50 values); check_results types what is read.
            data = read_json(path, max_bytes=RESULTS_FILE_BYTES, max_values=None)
            check_results(data)
            return cls(folder, data["header"], data["episodes"])
        except FileNotFoundError:
            raise ResultsError(f"nothing to resume: {path} does not exist") from None
        except OSError as err:  # a folder named results.json, no permission ...
            raise ResultsError(f"cannot read {path}: {err.strerror or err}") from None
        except LoadError as err:  # not JSON or UTF-8, or a FIFO, too big, too deep (scenarios/load.py)
            raise ResultsError(f"{path} is corrupt ({err.reason}); move it away to start over") from None
        except FieldError as err:  # e.g. a seed "1000000" or a NaN score
            raise ResultsError(f"{path} is corrupt ({err}); move it away to start over") from None
        except (KeyError, TypeError, ValueError) as err:
            raise ResultsError(f"{path} is corrupt ({err!r}); move it away to start over") from None

import pytest

# Fast scenarios (0.1-0.2 s an episode with idm) for runs that must finish in seconds.
TINY_SUITE = """
description: a few fast scenarios for tests
seeds: {first: 1000000, count: 3}
episodes: 1
scenarios: [merge, u-turn, roundabout, two-way]
"""


@pytest.fixture
def tiny_suite(tmp_path):
    file = tmp_path / "tiny.yaml"
    file.write_text(TINY_SUITE)
    return file

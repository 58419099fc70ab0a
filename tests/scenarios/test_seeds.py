"""The seed plan (scenarios/seeds.py): training, validation and evaluation seeds never meet."""

import pytest

from scenarios import seeds
from scenarios.suite import episode_seed, load_suite, suite_names

RUN_SEEDS = (0, 1, 1000, 999_999, 2**31 - 1)
START_STEPS = (0, 5000, 10**9)


@pytest.mark.parametrize("start_step", START_STEPS)
@pytest.mark.parametrize("run_seed", RUN_SEEDS)
def test_training_seeds_of_any_run_stay_in_the_training_range(run_seed, start_step):
    for n_envs in range(1, seeds.MAX_WORKERS + 1):
        worker_seeds = seeds.training_env_seeds(run_seed, start_step, n_envs)
        assert len(worker_seeds) == n_envs and len(set(worker_seeds)) == n_envs
        # TRAINING ends where VALIDATION begins, and VALIDATION where EVALUATION begins.
        assert all(seeds.TRAINING.start <= s < seeds.VALIDATION.start for s in worker_seeds)
    assert worker_seeds[:4] == seeds.training_env_seeds(run_seed, start_step, 4), "a worker's seed ignores n_envs"


def test_run_seed_1000_no_longer_trains_on_evaluation_seeds():
    # The bug: workers got seed * 1000 + worker = 1_000_000.., the suites' first seeds.
    assert max(seeds.training_env_seeds(1000, 0, 256)) < seeds.VALIDATION.start


def test_a_resumed_run_and_another_run_seed_get_other_workers():
    first = seeds.training_env_seeds(3, 0, 4)
    assert seeds.training_env_seeds(3, 0, 4) == first, "the same run gets the same seeds"
    assert not set(seeds.training_env_seeds(3, 5000, 4)) & set(first)
    assert not set(seeds.training_env_seeds(4, 0, 4)) & set(first)


def test_the_ranges_tile_the_32_bit_seeds_in_order():
    assert seeds.TRAINING.start == 0 and seeds.TRAINING.stop == seeds.VALIDATION.start == 900_000
    assert seeds.VALIDATION.stop == seeds.EVALUATION.start == seeds.EVAL_SEED_BASE == 1_000_000
    assert seeds.EVALUATION.stop - 1 == seeds.MAX_SEED == 2**31 - 1


def test_validation_seeds_are_disjoint_from_training_and_every_suite():
    validation = set(seeds.validation_seeds(len(seeds.VALIDATION)))
    assert seeds.validation_seeds(3) == [900_000, 900_001, 900_002]
    training = {s for r in RUN_SEEDS for t in START_STEPS for s in seeds.training_env_seeds(r, t, 256)}
    assert not validation & training
    for name in suite_names():
        suite = load_suite(name)
        played = {episode_seed(s, e) for s in suite.seeds for e in range(suite.episodes)}
        assert not validation & played, name
        assert not training & played, name


@pytest.mark.parametrize("call, message", [
    (lambda: seeds.validation_seeds(100_001), "validation episodes must be an integer from 1 to 100,000"),
    (lambda: seeds.validation_seeds(0), "validation episodes must be an integer from 1 to 100,000, got 0"),
    (lambda: seeds.training_env_seeds(-1, 0, 1), "run_seed must be an integer from 0 to 2,147,483,647, got -1"),
    (lambda: seeds.training_env_seeds(0, 10**9 + 1, 1), "start_step must be an integer from 0 to 1,000,000,000"),
    (lambda: seeds.training_env_seeds(0, 0, 257), "n_envs must be an integer from 1 to 256, got 257"),
    (lambda: seeds.training_env_seeds(0.5, 0, 1), "run_seed must be an integer"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_episode_seeds_keep_the_values_results_were_published_with():
    # Computed by scenarios/suite.py's episode_seed before it moved here.
    got = [episode_seed(s, e) for s, e in [(1_000_000, 0), (1_000_000, 1), (1_000_007, 3), (2**31 - 1, 999)]]
    assert got == [1_000_000, 572_339_721, 318_950_902, 2_093_424_327]
    assert all(seeds.is_evaluation_seed(episode_seed(1_000_000, e)) for e in range(1000))
    assert not seeds.is_evaluation_seed(999_999) and not seeds.is_evaluation_seed(True)

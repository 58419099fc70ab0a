#!/usr/bin/env python
"""Drive a scenario with an agent: watch it in a window, record it, print its metrics.

    python run_sim.py --scenario merge --agent idm --episodes 3
    python run_sim.py --scenario highway --agent random --record out.mp4
    python run_sim.py --suite smoke --agent idm --agent random [--workers N | --ray local] [--resume] [--replays]
    python run_sim.py --scenario merge --agent dqn --train [--steps N] [--device auto] [--resume]
    python run_sim.py --scenario merge --agent dqn          # plays the best trained (or shipped) checkpoint
    python run_sim.py --scenario merge --agent zoo          # plays the zoo's agent for merge (zoo:ppo: its ppo)
    python run_sim.py --scenario merge --agent dqn --save-replay ep.json; python run_sim.py --replay ep.json

Argument parsing and wiring only: the logic lives in scenarios/, sim/, agents/ and scoring/
(--suite is scoring.score_suite). Nothing imports this file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap


def command() -> str:
    """How the user ran this: the installed `run-sim` command, or `python run_sim.py` from a
    checkout; errors and hints name what they typed."""
    return "run-sim" if sys.argv and os.path.basename(sys.argv[0]) == "run-sim" else "run_sim.py"


def typed() -> str:
    return "run-sim" if command() == "run-sim" else "python run_sim.py"


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus the exit code 2), not the whole usage."""

    def error(self, message: str):
        message = " ".join(message.split())  # a message from a library may span lines; the user gets one
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# Upper bounds: a number above them is a typo (10**30), and would otherwise start a run that never ends.
MAX_EPISODES = 100_000
MAX_STEPS = 10**9  # [env steps] weeks of CPU
MAX_WORKERS = 256  # processes
MAX_EPISODE_TIMEOUT = 86_400.0  # [s] a day


def int_in(minimum: int, maximum: int):
    """argparse type: an integer in [minimum, maximum], with a message that says so."""
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"expected at most {maximum}, got {text!r}")
        return value

    return parse


def float_in(minimum: float, maximum: float):
    """argparse type: a finite number in [minimum, maximum]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:  # also nan and inf
            raise argparse.ArgumentTypeError(f"expected a number from {minimum:g} to {maximum:g}, got {text!r}")
        return value

    return parse


def non_empty(text: str) -> str:
    """argparse type for names and paths: an empty one would silently mean "not given"."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a name or path, got an empty string")
    return text


def run_name(text: str) -> str:
    """argparse type for --run: one folder name, so that a run stays inside reports/ or runs/."""
    if text in (".", "..") or not re.fullmatch(r"[A-Za-z0-9_.=+-]+", text):
        raise argparse.ArgumentTypeError(f"expected a folder name (letters, digits, '.', '-', '_'), got {text!r}")
    return text


def ray_address(text: str) -> str:
    """argparse type for --ray: auto, local or host:port."""
    host, sep, port = text.rpartition(":")
    if text in ("auto", "local") or (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, local or host:port, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    import agents
    import scenarios
    from scenarios.suite import MAX_SEED

    def listing(title: str, items: dict[str, str]) -> str:
        width = max(map(len, items)) + 2
        lines = [f"  {name:<{width}}{textwrap.shorten(text, 100 - width)}" for name, text in items.items()]
        return f"{title}:\n" + "\n".join(lines)

    def description(name: str) -> str:  # a broken catalog file fails the commands that use it, not --help
        try:
            return scenarios.get(name).description
        except scenarios.ScenarioError:
            return f"(cannot be loaded: run --scenario {name} for the error)"

    scenario_help = {name: description(name) for name in scenarios.names()}
    parser = OneLineErrorParser(
        prog=command(),
        description="Run episodes of a driving scenario with an agent; show, record and score them. Scenarios, "
                    "suites, perception weights and the zoo are read from beside the code (the checkout, or the installed "
                    "package); what it writes (runs/, reports/, videos, replays) goes under the current folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=listing("scenarios", scenario_help) + "\n\n" + listing("agents", agents.describe()),
    )
    parser.add_argument("--scenario", default="merge", metavar="NAME", help="scenario to drive (default: merge)")
    parser.add_argument("--agent", action="append", metavar="NAME",
                        help="agent that drives (default: idm), or zoo / zoo:NAME: the zoo's agent for the scenario "
                        "(docs/zoo.md); with --suite repeat it to score several, each of these or a checkpoint folder")
    parser.add_argument("--episodes", type=int_in(1, MAX_EPISODES), default=3, help="episodes to play (default: 3)")
    parser.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="seed of the first episode; episode i uses seed+i (default: 0)")
    parser.add_argument("--obs", choices=["camera", "kinematics", "features"], help="observation mode (default: the agent's own)")
    parser.add_argument("--engine", choices=["highway-env", "envpool"], default=None,
                        help="simulator: highway-env (the reference, every scenario; default) or envpool (its C++ port, "
                             "10-100x faster, the scenarios it runs exactly: docs/engines.md)")
    parser.add_argument("--checkpoint", type=non_empty, metavar="PATH", help="checkpoint folder to play (default: the newest run's best, else the shipped one)")
    training = parser.add_argument_group("training (learning agents)")
    training.add_argument("--train", action="store_true", help="train the agent on the scenario; saves runs/<scenario>/<agent>/<run>/")
    training.add_argument("--steps", type=int_in(1, MAX_STEPS), help="training budget in env steps (default: the scenario's)")
    training.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="torch device (default: auto = cuda if present)")
    training.add_argument("--eval-every", type=int_in(1, MAX_STEPS), default=None, metavar="N",
                          help="evaluate on held-out seeds every N env steps; the best evaluation is the run's checkpoint "
                          "(default: 5000; a resumed run keeps its own)")
    training.add_argument("--eval-episodes", type=int_in(1, MAX_EPISODES), default=None, metavar="N",
                          help="held-out episodes per evaluation (default: 20; a resumed run keeps its own)")
    training.add_argument("--finetune-encoder", action="store_true",
                          help="SB3 agents: train the perception encoder too (the policy then sees camera frames)")
    training.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter, e.g. --set learning_rate=3e-4")
    parser.add_argument("--record", type=non_empty, metavar="PATH", help="write the episodes to a video (.mp4 or .gif); works headless")
    parser.add_argument("--no-window", action="store_true", help="do not open a window even if a display exists")
    parser.add_argument("--save-replay", type=non_empty, metavar="PATH", help="save the episodes played (seeds, actions, action values) "
                        "to a small JSON replay file")
    parser.add_argument("--replay", type=non_empty, metavar="PATH", help="re-render a replay file frame for frame, without the agent "
                        "(--scenario, --agent, --episodes, --seed, --obs come from the file)")
    suite = parser.add_argument_group("scoring on a suite (docs/metrics.md)")
    suite.add_argument("--suite", type=non_empty, metavar="NAME", help="score the agents on a suite: a name in scenarios/suites/ or a YAML path")
    suite.add_argument("--workers", type=int_in(1, MAX_WORKERS), help="local worker processes (default: all cores)")
    suite.add_argument("--ray", type=ray_address, metavar="ADDRESS", help="run episodes as Ray tasks: 'auto' (existing cluster), 'local' (start one here) or host:port")
    suite.add_argument("--episode-timeout", type=float_in(1, MAX_EPISODE_TIMEOUT), metavar="SECONDS",
                       help="a scoring worker still running one episode this long is hung and the run stops, "
                            "keeping what finished (default: 300; the slowest real episode takes well under a minute)")
    suite.add_argument("--resume", action="store_true", help="continue the run named by --run (default: the latest) where it stopped (suites and --train)")
    suite.add_argument("--run", type=run_name, metavar="NAME", help="run folder name under reports/<suite>/ or runs/<scenario>/<agent>/ (default: date-time)")
    suite.add_argument("--replays", action="store_true", help="also save a replay file of every scored episode "
                       "(<report folder>/replays/<agent>/<scenario>/<seed>-<episode>.json; watch one with --replay)")
    suite.add_argument("--reports", default="reports", type=non_empty, metavar="DIR", help="where run folders go (default: reports)")
    return parser


def score_suite(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--suite: scoring.score_suite, with its errors as one line each and how to resume."""
    import os

    import scoring

    resume = f"--suite {args.suite} --resume --run"
    try:
        score = scoring.score_suite(args.suite, args.agent or ["idm"], reports_dir=args.reports, run=args.run,
                                    resume=args.resume, workers=args.workers or os.cpu_count() or 1, ray=args.ray,
                                    replays=args.replays, engine=args.engine or "highway-env",
                                    episode_timeout=args.episode_timeout)
    except scoring.SuiteSetupError as err:
        parser.error(str(err))
    except scoring.ReportsWriteError as err:
        print(f"{parser.prog}: error: {err}: free space, then {resume} {err.run}", file=sys.stderr)
        return 1
    except scoring.SuiteStoppedError as err:  # a dead worker, results.json not rewritten
        print(f"{parser.prog}: error: {err}: continue with {resume} {err.run}", file=sys.stderr)
        return 1
    print(f"{score.ran} episodes in {score.seconds:.1f} s ({score.skipped} already done) -> {score.results.path}")
    if score.interrupted:
        print(f"interrupted: continue with {resume} {score.folder.name} (same --agent list)", file=sys.stderr)
        return 130
    print((score.folder / "leaderboard.md").read_text(encoding="utf-8"))
    print(f"reports: {score.folder}/leaderboard.md, results.csv, scores.png")
    if args.replays:
        print(f"replays: {score.folder}/replays/ (watch one: {typed()} --replay FILE)")
    return 0


def parse_settings(pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs -> {key: value}, values read as YAML scalars (3e-4, true, 8)."""
    from scenarios.load import LoadError, parse_yaml

    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:  # bounded like a file: an alias bomb or 50 000 brackets is one line too
            settings[key] = parse_yaml(value, f"--set {key}")
        except LoadError as err:  # e.g. net_arch=[64 (unclosed), or a !!python tag
            problem = getattr(err.__cause__, "problem", None) or err.reason
            raise ValueError(f"--set {key}: cannot read {value!r:.60} as a value ({problem})") from None
        if isinstance(settings[key], str):
            try:  # YAML reads 3e-4 (no decimal point) as a string; a user means the number
                settings[key] = float(settings[key])
            except ValueError:
                pass
    return settings


def train(parser: argparse.ArgumentParser, args: argparse.Namespace, agent_class) -> int:
    """--train: train (or --resume) a learning agent; Ctrl-C saves and says how to resume."""
    import signal

    import agents
    from agents.runs import train_agent
    from agents.sb3 import SB3Agent
    from perception.device import resolve_device
    from sim.vector import EnvWorkerError

    # SIGTERM behaves as Ctrl-C from the start, so that a stop during set-up also ends cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        settings = parse_settings(args.set)
        if args.finetune_encoder:
            if not issubclass(agent_class, SB3Agent):
                raise agents.AgentError(f"--finetune-encoder applies to the SB3 agents, not {agent_class.name!r}")
            settings["finetune_encoder"] = True
        run_dir = train_agent(agent_class, args.scenario, args.steps, resolve_device(args.device), args.run,
                              args.resume, settings, args.seed, engine=args.engine, eval_every=args.eval_every,
                              eval_episodes=args.eval_episodes)
    except KeyboardInterrupt:
        print("interrupted before training started: nothing to save", file=sys.stderr)
        return 130
    except EnvWorkerError as err:  # last/ still holds the last periodic checkpoint
        resume = f"--scenario {args.scenario} --agent {agent_class.name} --train --resume"
        resume += f" --run {args.run}" if args.run else ""  # without --run, --resume takes the newest run: this one
        print(f"{parser.prog}: error: training stopped: {err.what}; continue from the last checkpoint with {resume}",
              file=sys.stderr)
        return 1
    print(f"run folder: {run_dir}  (play it: {typed()} --scenario {args.scenario} --agent {agent_class.name})")
    return 0


def check_training_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that only --train reads are an error without it, not silently ignored."""
    from scenarios.suite import EVAL_SEED_BASE

    if not args.train:
        given = [flag for flag, value in (("--set", args.set), ("--steps", args.steps),
                                          ("--eval-every", args.eval_every), ("--eval-episodes", args.eval_episodes),
                                          ("--finetune-encoder", args.finetune_encoder)) if value]
        if given:
            parser.error(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with --train")
    elif args.seed >= EVAL_SEED_BASE:
        parser.error(f"--seed {args.seed}: training seeds stay below {EVAL_SEED_BASE} (the suites' evaluation seeds start there)")


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # paths printed hold folder names: bytes not UTF-8 print as \udcff
        sys.stdout.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.suite and (args.replay or args.save_replay):
        parser.error("--replay and --save-replay apply to watched episodes; with --suite, --replays saves every scored episode's")
    if args.replays and not args.suite:
        parser.error("--replays applies with --suite; to save watched episodes use --save-replay PATH")
    check_training_options(parser, args)
    if args.suite:
        return score_suite(parser, args)
    if args.workers or args.ray or args.episode_timeout:
        parser.error("--workers, --ray and --episode-timeout only apply with --suite")
    if (args.resume or args.run) and not args.train:
        parser.error("--resume and --run apply with --suite or --train")
    if args.agent and len(args.agent) > 1:
        parser.error("one --agent per run without --suite (repeat --agent only with --suite)")
    args.agent = args.agent[0] if args.agent else "idm"

    import agents
    import scenarios
    from agents.base import read_config
    from agents.checkpoint import checkpoint_encoder
    from agents.resolve import checkpoint_hash
    from sim import OBS_MODES, make_env
    from sim.rollout import play_episodes
    from sim.table import print_table
    from sim.video import VideoRecorder, check_output_path
    from sim.window import Window, has_display
    from sim.replay import Replay, ReplayError, check_replay_path
    from sim.viewer import Viewer, encoder_perception, title_for

    replay = None
    try:
        if args.replay:
            if args.train or args.save_replay:
                raise ValueError("--replay cannot be combined with --train or --save-replay")
            replay = Replay.load(args.replay)
            args.scenario, args.agent = replay.scenario, replay.agent
        scenario = replay.load_scenario() if replay else scenarios.get(args.scenario)
        if args.train and agents.is_zoo_label(args.agent):
            trainable = [name for name in agents.names() if agents.get_class(name).trainable]
            raise ValueError(f"--train trains an agent by its name ({', '.join(trainable)}), not {args.agent!r}")
        agent_class, args.checkpoint = agents.agent_to_play(args.agent, scenario.name, args.checkpoint)
        if args.train:
            return train(parser, args, agent_class)
        if args.record:
            check_output_path(args.record)
        if args.save_replay:
            check_replay_path(args.save_replay)
        if replay is None:
            checkpoint, obs = agents.checkpoint_for(agent_class, scenario.name, args.checkpoint, args.obs)
            if obs not in list(OBS_MODES):  # read from the checkpoint's config.json
                raise agents.AgentError(f"{checkpoint}/config.json names an unknown obs mode {obs!r:.40}; "
                                        f"valid: {', '.join(OBS_MODES)}")
        else:
            checkpoint, obs = None, replay.obs
    except (scenarios.ScenarioError, agents.AgentError, ReplayError, ValueError) as err:
        parser.error(str(err))

    engine = args.engine or "highway-env"
    show = has_display() and not args.no_window and engine == "highway-env"
    if engine == "envpool" and (args.record or args.save_replay or replay):
        parser.error("--record, --save-replay and --replay draw highway-env's frames: use --engine highway-env "
                     "(the same scenario, seeds and agent)")
    try:
        encoder = checkpoint_encoder(read_config(checkpoint)) if checkpoint else None  # the weights it was trained on
        env = make_env(scenario, obs=obs, render_mode="rgb_array" if show or args.record else None, engine=engine,
                       encoder=encoder)
    except ValueError as err:  # a scenario or camera EnvPool cannot run (sim.envpool_env.EngineError)
        parser.error(str(err))
    fps = env.unwrapped.config["policy_frequency"]  # one frame per decision: real time
    if replay is not None:
        try:  # before the first frame: a bad action halfway through would leave half a video
            replay.check_fits(env.action_space, scenario.budgets.max_steps)
        except ReplayError as err:
            env.close()
            parser.error(str(err))
    agent = None
    if replay is None:
        try:
            agent = agent_class.load(checkpoint, env, scenario=scenario.name) if checkpoint else agent_class(env, seed=args.seed)
        except agents.AgentError as err:
            parser.error(str(err))
        if checkpoint:
            print(f"loaded {agent_class.name} checkpoint {checkpoint}")
    recorder = VideoRecorder(args.record, fps) if args.record else None
    window = Window(f"{scenario.name} - {agent_class.name}" + (" (replay)" if replay else ""), fps) if show else None
    ck_hash = replay.checkpoint_hash if replay else (checkpoint_hash(checkpoint) if checkpoint else None)
    log = Replay(scenario.name, obs, agent_class.name, str(checkpoint) if checkpoint else None, ck_hash)

    seeds = range(args.seed, args.seed + args.episodes)
    records = []
    try:
        if show or recorder or replay or args.save_replay:
            # records fills episode by episode, so an interrupt keeps the finished ones.
            viewer = Viewer(env, agent, seeds, replay=replay, title=title_for(scenario.name, agent_class.name, ck_hash),
                            sink=recorder.add if recorder else None, window=window, interactive=window is not None,
                            perceive=encoder_perception(env.camera) if show or recorder else None, log=log,
                            on_episode=records.append)
            viewer.run()
        else:
            play_episodes(env, agent, seeds, None, on_episode=records.append)
    except KeyboardInterrupt:
        print("interrupted: showing the episodes finished so far", file=sys.stderr)
    finally:
        env.close()
        if window is not None:
            window.close()
        if recorder is not None:
            written = recorder.close()
            if written:
                print(f"recorded {recorder.frames} frames at {fps} fps to {written}")
        if args.save_replay and log.episodes:
            print(f"saved a replay of {len(log.episodes)} episodes to {log.save(args.save_replay)}")
    if records:
        print_table(records, title=f"{scenario.name} / {agent_class.name}" + (" (replay)" if replay else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

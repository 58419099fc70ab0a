"""The GPU check, one short prepared script for a lent GPU machine; writes gpu_check.json here.

    python benchmarks/gpu_check.py [--steps 20000] [--timeout 480]

1. CUDA: present, its device name and memory (the script stops here, writing that, without one).
2. Encoder throughput: frames/s of the v2 perception encoder at batch 1024, on cuda and on cpu,
   as Encoder.features and as FoldedFeatures (perception/folded.py: what features envs run).
3. Training: 20k-step dqn and ppo on EnvPool (highway-fast-v0, obs camera: the v2 encoder in the
   network, where a GPU matters) with --device cuda and with cpu; env steps/s each.
Each part stops at --timeout seconds in all, keeping what it measured. Nothing in the test suite
depends on a GPU: this script is the only place one is used on purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

import torch  # noqa: E402


def encoder_throughput(device: str, batch: int = 1024, repeats: int = 5, folded: bool = False) -> float:
    from perception.folded import FoldedFeatures
    from perception.weights import CAMERA_WEIGHTS, load_encoder

    encoder = load_encoder(CAMERA_WEIGHTS, device=device).eval()
    c = encoder.config
    frames = torch.randint(0, 255, (batch, c.in_channels, c.height, c.width), dtype=torch.uint8, device=device)
    features = FoldedFeatures(encoder) if folded else (lambda x: encoder.features(x.float() / 255))
    with torch.no_grad():
        features(frames)  # warm-up (cuDNN picks its kernels)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            features(frames)
        if device == "cuda":
            torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - start)


def training_steps_per_s(agent: str, device: str, steps: int, workdir: Path) -> float:
    import agents
    from agents.runs import train_agent

    run_dir = train_agent(agents.get_class(agent), "highway-fast-v0", steps, torch.device(device), f"{agent}-{device}",
                          False, {"obs": "camera"}, 0, runs_dir=workdir, engine="envpool", eval_every=10**9,
                          eval_episodes=1, progress=False)
    config = json.loads((run_dir / "last" / "config.json").read_text())
    return config["steps"] / config["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=480.0, help="[s] for the whole script")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    deadline = time.perf_counter() + args.timeout
    out: dict = {"cuda": torch.cuda.is_available(), "torch": torch.__version__}

    def save() -> None:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")

    if not out["cuda"]:
        save()
        print("no CUDA device: nothing more to measure")
        return
    props = torch.cuda.get_device_properties(0)
    out["device"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)}
    out["encoder_frames_per_s_batch_1024"] = {d: encoder_throughput(d) for d in ("cuda", "cpu")}
    out["folded_encoder_frames_per_s_batch_1024"] = {d: encoder_throughput(d, folded=True) for d in ("cuda", "cpu")}
    save()
    with tempfile.TemporaryDirectory() as tmp:
        out["training_steps_per_s"] = {}
        for agent in ("dqn", "ppo"):
            for device in ("cuda", "cpu"):
                if time.perf_counter() > deadline:
                    out["stopped"] = f"--timeout {args.timeout:g} s reached"
                    save()
                    return
                # the cpu side is a sample: 20k camera steps on a CPU take longer than the check may
                n = args.steps if device == "cuda" else min(args.steps, 2000)
                out["training_steps_per_s"][f"{agent}/{device}"] = training_steps_per_s(agent, device, n, Path(tmp))
                save()
                print(agent, device, out["training_steps_per_s"][f"{agent}/{device}"], flush=True)
    save()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

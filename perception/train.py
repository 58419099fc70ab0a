"""Pretrain the perception encoder on collected (frames, truth) shards.

    python -m perception.train [--data data/perception] [--name default] [--epochs 30] [--device auto]

Validation every epoch (loss, presence F1, position/velocity errors; and, where the data has
them, the held-out scenario's val seeds: reported and recorded, never selected on), TensorBoard logs in
runs/perception/<name>/, early stopping on validation loss, and the best epoch's weights saved
as perception/weights/<name>.pt with a model card <name>.json (data, recipe, metrics on the
test split: the numbers `python -m perception.evaluate` reproduces). Ctrl-C stops training
and keeps the best weights so far.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from perception.collect import HELD_OUT_SCENARIO, held_out
from perception.dataset import FrameDataset, data_camera
from perception.device import resolve_device
from perception.encoder import DETECTORS, Encoder, EncoderConfig, decode, decode_lane, perception_loss
from perception.evaluate import evaluate_split
from perception.metrics import lane_scores, score
from perception.weights import WeightsError, file_sha256, load_encoder, save_encoder, weights_paths
from scenarios.load import SMALL_FILE_BYTES, read_json
from sim.files import load_state_file


def freeze_all_but_detector(encoder: Encoder) -> None:
    """Train the dense detection head alone: the trunk, slot and lane heads keep the weights they
    start from, so the features agents read stay bit-identical to those weights' (the trunk's
    BatchNorm statistics included: see set_mode)."""
    encoder.requires_grad_(False)
    encoder.detect.requires_grad_(True)


def set_mode(encoder: Encoder, training: bool) -> None:
    encoder.train(training)
    if training and not any(p.requires_grad for p in encoder.stem.parameters()):
        encoder.stem.eval()  # frozen: BatchNorm must not update its running statistics either
        encoder.deep.eval()


def run_epoch(encoder, loader, device, optimizer=None, on_batch=None) -> tuple[float, dict]:
    """One pass; trains when an optimizer is given. Returns the mean loss and, when evaluating,
    the validation metrics (vehicles and lane)."""
    set_mode(encoder, optimizer is not None)
    total, count, outputs = 0.0, 0, {"truth": [], "target": [], "lane": [], "lane_target": []}
    with torch.set_grad_enabled(optimizer is not None):
        for frames, target, view, lane in loader:
            frames, target, view, lane = frames.to(device).float().div_(255), target.to(device), view.to(device), lane.to(device)
            out = encoder(frames)
            loss, _ = perception_loss(out, target, view, lane, (encoder.config.height, encoder.config.width))
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(encoder.parameters(), 5.0)
                optimizer.step()
            else:
                dense, slots, lane_out = (o.cpu() for o in out)
                for key, value in (("truth", decode(dense, slots, view.cpu(), encoder.config)), ("target", target),
                                   ("lane", decode_lane(lane_out)), ("lane_target", lane)):
                    outputs[key].append(value.cpu().numpy())
            total += loss.item() * len(frames)
            count += len(frames)
            if on_batch is not None:
                on_batch(loss.item())
    if optimizer is not None:
        return total / count, {}
    stacked = {key: np.concatenate(value) for key, value in outputs.items()}
    return total / count, {**score(stacked["truth"], stacked["target"]), **lane_scores(stacked["lane"], stacked["lane_target"])}


def initialise_from(encoder: Encoder, name: str) -> str:
    """Start from shipped weights (fine-tuning); heads those weights lack (the lane head, a wide
    detector's branch on a local one) keep their fresh initialisation. Returns the weights' sha256, for the model card."""
    pt, card_file = weights_paths(name)
    state = load_state_file(pt, WeightsError, "an encoder's state dict")
    card = read_json(card_file, max_bytes=SMALL_FILE_BYTES) if card_file.exists() else {}
    fresh = ("lane_head.",)
    theirs = card.get("architecture", {}).get("detector", "local")
    if theirs == "wide" and encoder.config.detector == "local":
        raise WeightsError(f"{pt} has a wide detector: fine-tune it with --detector wide")
    if theirs == "local" and encoder.config.detector == "wide":
        fresh += ("detect.wide.",)  # the local head is init's; the wide branch starts at zero
        state = {key.replace("detect.", "detect.local.", 1): value for key, value in state.items()}
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError, AttributeError) as err:  # a shape differs: another architecture
        raise WeightsError(f"{pt} does not match this encoder: {str(err).splitlines()[1].strip()}") from None
    if unexpected or any(not key.startswith(fresh) for key in missing):
        raise WeightsError(f"{pt} does not match this encoder (missing {missing}, unexpected {unexpected})")
    return file_sha256(pt)


def train(data: Path, name: str, epochs: int, batch: int, lr: float, patience: int, device: torch.device,
          seed: int, logdir: Path, init: str | None = None, extra: tuple[Path, ...] = (),
          detector: str = "local", detector_only: bool = False) -> dict:
    """extra: more collections whose train and val shards join data's (same camera; the test
    split, and so the card's metrics, is data's alone). detector_only: train the detection
    head alone on init's trunk (freeze_all_but_detector)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_set = FrameDataset([shard for root in (data, *extra) for shard in sorted((root / "train").glob("*.npz"))])
    val_shards = [shard for root in (data, *extra) for shard in sorted((root / "val").glob("*.npz"))]
    # The held-out scenario's val seeds: reported each epoch (generalisation), not in the val loss that selects
    held_shards = [shard for shard in val_shards if held_out(shard.stem)]
    val_set = FrameDataset([shard for shard in val_shards if not held_out(shard.stem)])
    held_loader = DataLoader(FrameDataset(held_shards), batch_size=256) if held_shards else None
    camera = data_camera(data, train_set)
    for root in extra:
        if data_camera(root, train_set) != camera:
            raise ValueError(f"--extra {root} was collected with another camera than {data}")
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch, shuffle=True, generator=generator, drop_last=True)
    val_loader = DataLoader(val_set, batch_size=256)
    encoder = Encoder(EncoderConfig(camera=camera.contract(), lane_outputs=train_set.lanes.shape[1], detector=detector))
    initialised_from = initialise_from(encoder, init) if init else None
    if detector_only:
        freeze_all_but_detector(encoder)
    encoder = encoder.to(device)
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(train_loader))
    writer = SummaryWriter(str(logdir))
    recipe = {"epochs_max": epochs, "batch": batch, "lr": lr, "optimizer": "AdamW(wd=1e-4)", "schedule": "cosine",
              "patience": patience, "seed": seed, "device": str(device),
              "initialised_from": {"weights": init, "sha256": initialised_from} if init else None,
              "trained": "the detection head alone: trunk, slot and lane heads (and so the features) are init's"
              if detector_only else "every layer"}
    best = {"val_loss": float("inf"), "epoch": -1}
    start, step = time.perf_counter(), 0
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn()]
    try:
        with Progress(*columns) as progress:
            for epoch in range(epochs):
                task = progress.add_task(f"epoch {epoch + 1}/{epochs}", total=len(train_loader), loss=0.0)

                def on_batch(loss: float) -> None:
                    nonlocal step
                    step += 1
                    writer.add_scalar("train/loss", loss, step)
                    scheduler.step()
                    progress.update(task, advance=1, loss=loss)

                train_loss, _ = run_epoch(encoder, train_loader, device, optimizer, on_batch)
                val_loss, metrics = run_epoch(encoder, val_loader, device)
                held = run_epoch(encoder, held_loader, device)[1] if held_loader else None
                for key in ("f1", "precision", "recall", "position_mae", "velocity_mae", "lateral_r2", "heading_error_r2"):
                    writer.add_scalar(f"val/{key}", metrics[key], epoch)
                writer.add_scalar("val/loss", val_loss, epoch)
                progress.console.print(
                    f"epoch {epoch + 1}: train {train_loss:.4f}  val {val_loss:.4f}  F1 {metrics['f1']:.3f}  "
                    f"position {metrics['position_mae']:.2f} m  velocity {metrics['velocity_mae']:.2f} m/s  "
                    f"lane R2: lateral {metrics['lateral_r2']:.2f} heading {metrics['heading_error_r2']:.2f}"
                    + (f"  | held out ({HELD_OUT_SCENARIO}, val seeds): F1 {held['f1']:.3f}  position "
                       f"{held['position_mae']:.2f} m  velocity {held['velocity_mae']:.2f} m/s" if held else "")
                )
                for key in ("f1", "position_mae", "velocity_mae") if held else ():
                    writer.add_scalar(f"held_out/{key}", held[key], epoch)
                if val_loss < best["val_loss"]:
                    best = {"val_loss": val_loss, "epoch": epoch + 1, "val_metrics": metrics, "held_out_val_metrics": held}
                    save_encoder(encoder, name, {"status": "training"})
                elif epoch + 1 - best["epoch"] >= patience:
                    progress.console.print(f"early stop: no validation improvement for {patience} epochs")
                    break
    except KeyboardInterrupt:
        print("interrupted: keeping the best weights so far")
    writer.close()
    return {"recipe": recipe, "best": best, "train_seconds": round(time.perf_counter() - start, 1),
            "train_samples": len(train_set), "val_samples": len(val_set)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perception.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/perception"), help="shards from perception.collect")
    parser.add_argument("--name", default="candidate", help="weights name under perception/weights/, or a .pt path "
                        "(default: candidate; the shipped ones are default (v1, the zoo's), v2, v3 and v4)")
    parser.add_argument("--extra", type=Path, action="append", default=[], metavar="DIR",
                        help="another collection whose train and val shards join --data's (e.g. whole racetrack "
                             "laps); repeatable; the test split is --data's")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=4, help="epochs without validation improvement before stopping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="fine-tune from these weights (a name under perception/weights/ or a .pt path) "
                             "instead of training from scratch; heads they lack start fresh")
    parser.add_argument("--detector", default="local", choices=DETECTORS,
                        help="the dense detection head: local (v1-v4) or wide (v5: a dilated branch that sees "
                             "+-60 px, a fast car's track over the stack; perception.encoder.DETECTORS)")
    parser.add_argument("--detector-only", action="store_true",
                        help="with --init: train the detection head alone; the features agents read stay init's")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch (default: torch's choice; 1 is far faster on a busy machine)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not (args.data / "train").is_dir():
        parser.error(f"no training shards in {args.data}/train; run `python -m perception.collect` first")

    for root in args.extra:
        if not (root / "train").is_dir():
            parser.error(f"--extra: no training shards in {root}/train; run `python -m perception.collect` first")
    if args.detector_only and not args.init:
        parser.error("--detector-only trains the detection head on another encoder's trunk: give it with --init")
    if args.init and not weights_paths(args.init)[0].exists():
        parser.error(f"--init: no weights at {weights_paths(args.init)[0]}")

    device = resolve_device(args.device)
    try:
        result = train(args.data, args.name, args.epochs, args.batch, args.lr, args.patience, device, args.seed,
                       Path("runs/perception") / Path(args.name).stem, args.init, tuple(args.extra),
                       args.detector, args.detector_only)
    except (WeightsError, ValueError, OSError) as err:
        parser.error(str(getattr(err, "reason", None) or err))
    encoder = load_encoder(args.name)  # the best epoch, as shipped
    manifest_file = args.data / "manifest.json"
    data_card = read_json(manifest_file, max_bytes=SMALL_FILE_BYTES) if manifest_file.exists() else {}
    data_card.pop("shards", None)
    for root in args.extra:  # each extra collection's own settings (policies, max steps, seeds)
        extra_file = root / "manifest.json"
        extra_card = read_json(extra_file, max_bytes=SMALL_FILE_BYTES) if extra_file.exists() else {}
        extra_card.pop("shards", None)
        data_card.setdefault("extra", {})[str(root)] = extra_card
    card = {
        "command": "python -m perception.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {**data_card, "train_samples": result["train_samples"], "val_samples": result["val_samples"]},
        "recipe": result["recipe"],
        "best_epoch": result["best"]["epoch"],
        "train_seconds": result["train_seconds"],
        "val_metrics": result["best"].get("val_metrics"),
        "held_out_val_metrics": result["best"].get("held_out_val_metrics"),  # None: the data has no held-out val
        "test_metrics": evaluate_split(encoder, args.data, "test"),
    }
    save_encoder(encoder, args.name, card)
    pt, js = weights_paths(args.name)  # --name may be a .pt path (candidates kept outside perception/weights/)
    print(f"saved {pt} and {js.name} (best epoch {card['best_epoch']}, "
          f"{result['train_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

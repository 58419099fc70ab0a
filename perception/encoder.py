"""The perception network: frame stack -> feature vector for agents, and a decoded vector space.

    features(frames)        (B, C, H, W) float in [0, 1] -> (B, F)          what agents consume
    forward(frames)         -> dense (B, 7, H/4, W/4), slots (B, S, 7), lane (B, 5)
    predict_truth(frames, view) uint8 frames -> (B, S, 6) in sim's truth layout (presence = probability)
    predict_lane(frames)    uint8 frames -> (B, 5) like sim's info["lane"] (on_road = probability)

Three heads on one trunk:
- a dense detection head (CenterNet-style) on a grid of 4-px cells: per cell an objectness
  logit, the sub-cell offset of a vehicle centre, its relative velocity and heading. Detection
  is translation-equivariant, so positions come out precise; decoding keeps local maxima and
  sorts them by distance to the ego into the truth array's slots. Its `wide` kind (v5) adds a
  dilated branch that sees +-60 px, a fast car's track over the stack (DETECTORS).
- a slot head on the feature vector, predicting the truth array directly (ego row included):
  it makes the agents' features hold the vector space, and gives the ego's own velocity.
- a lane head on the feature vector, predicting the ego's place on its lane (sim/truth.py
  LANE_FEATURES: on road, lateral offset, heading error, the bend ahead). Vehicles alone do not
  tell a steering policy where the road goes; linear in the features, so agents can read it.
The input also carries the differences of consecutive frames (motion is what velocity is read
from) and two coordinate channels (CoordConv) that tell the convolutions where they are. Other frame sizes
work: adaptive pooling brings the deep grid to 8 x 4 before the feature projection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sim.camera import CameraConfig, camera_view
from sim.truth import LANE_FEATURES

# Slot regression targets are divided by these: x, y [m], vx, vy [m/s], cos h, sin h.
# Velocities are divided by only 2 m/s so that their errors stay in smooth L1's linear regime
# (full-size gradients): with / 10 the network learnt positions and never velocities.
TARGET_SCALE = torch.tensor([20.0, 10.0, 2.0, 2.0, 1.0, 1.0])
VELOCITY_SCALE = 2.0  # [m/s] dense head velocities are predicted / 2
# Lane targets are divided by these: on_road (a logit, unscaled), lateral [m], heading error,
# bend at 10 m, bend at 25 m [rad]. Small, so that errors that matter for steering stay large.
LANE_SCALE = torch.tensor([1.0, 1.0, 0.2, 0.2, 0.4, 0.4])  # ..., route bearing 25 m ahead [rad]
CELL = 4  # [px] detection grid cell
DETECTION_THRESHOLD = 0.5
DETECTORS = ("local", "wide")  # the dense detection head's kinds (_detector below)


@dataclass(frozen=True)
class EncoderConfig:
    """The architecture, and the camera contract (sim/camera.py) of the frames it reads."""

    camera: dict = field(default_factory=lambda: CameraConfig().contract())  # CameraConfig.contract()
    features: int = 256  # size of the feature vector agents see
    slots: int = 11  # ego + 10 vehicles, as sim's truth array
    lane_outputs: int = len(LANE_FEATURES)  # v1 weights predict the first 5 (no route_25m)
    detector: str = "local"  # one of DETECTORS; cards without it (v1-v4) are "local"

    def __post_init__(self) -> None:  # a crafted card fails here, in one line, not deep in the constructor
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")

    @property
    def camera_config(self) -> CameraConfig:
        return CameraConfig.from_contract(self.camera)

    @property
    def stack(self) -> int:  # scene frames
        return int(self.camera["stack"])

    @property
    def route(self) -> bool:  # a route channel after the scene frames
        return "route" in self.camera["channels"]

    @property
    def in_channels(self) -> int:
        return self.stack + self.route

    @property
    def height(self) -> int:
        return int(self.camera["height"])

    @property
    def width(self) -> int:
        return int(self.camera["width"])

    @classmethod
    def from_card(cls, architecture: dict) -> EncoderConfig:
        """A model card's architecture; v1 cards (no camera) read highway-env's camera, 5 lane outputs."""
        architecture = dict(architecture)
        if "camera" not in architecture:
            camera = CameraConfig.highway_env(architecture.pop("height"), architecture.pop("width"),
                                              architecture.pop("scaling"), architecture.pop("in_channels"))
            architecture.update(camera=camera.contract(), lane_outputs=5)
        CameraConfig.from_contract(architecture["camera"])  # a corrupt contract is refused here
        return cls(**architecture)


# The dense detection head, on the stride-4 grid (the stem's cells, with the deep context):
#   local: 3x3 then 1x1, a receptive field of +-1 cell (+-4 px) around a car's centre (v1-v4);
#   wide:  local plus a residual branch of dilated 3x3s (dilation 1, 2, 4, 8): +-15 cells (+-60 px,
#          34 m at 1.75 px/m). A car's oldest frame of the stack lies 0.6 s x its relative speed
#          away, 42 px at 40 m/s, which the local head cannot see (its velocity error grew with
#          relative speed). Measured (docs/perception.md): the branch alone moved the error little;
#          with more data of the turning scenarios, v5 gained there. The branch's last layer starts
#          at zero, so a wide head initialised from a local one starts with exactly its outputs.
def _local_head(cin: int) -> nn.Sequential:
    head = nn.Sequential(nn.Conv2d(cin, 64, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(64, 7, 1))
    nn.init.constant_(head[-1].bias[:1], -2.2)  # start at p = 0.1: most cells are empty
    return head


class WideDetector(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.local = _local_head(cin)
        layers: list[nn.Module] = []
        for i, dilation in enumerate((1, 2, 4, 8)):
            layers += [nn.Conv2d(cin if i == 0 else 64, 64, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
        self.wide = nn.Sequential(*layers, nn.Conv2d(64, 7, 1))
        nn.init.zeros_(self.wide[-1].weight)
        nn.init.zeros_(self.wide[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.local(x) + self.wide(x)


def _detector(kind: str, cin: int) -> nn.Module:
    if kind == "local":
        return _local_head(cin)
    if kind == "wide":
        return WideDetector(cin)
    raise AssertionError(kind)  # EncoderConfig refuses other kinds


def _block(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=2, padding=(k - 1) // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        inputs = 2 * config.stack - 1 + config.route + 2  # frames, their differences, route, x/y coordinates
        self.stem = nn.Sequential(*_block(inputs, 16, 4), *_block(16, 32, 3))  # (B, 32, H/4, W/4)
        self.deep = nn.Sequential(*_block(32, 64, 3), *_block(64, 64, 3))  # (B, 64, H/16, W/16)
        self.project = nn.Sequential(nn.AdaptiveAvgPool2d((8, 4)), nn.Flatten(), nn.Linear(64 * 8 * 4, config.features),
                                     nn.ReLU(inplace=True))
        self.slot_head = nn.Linear(config.features, config.slots * 7)
        self.lane_head = nn.Linear(config.features, config.lane_outputs)
        self.detect = _detector(config.detector, 32 + 64)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, config.height), torch.linspace(-1, 1, config.width), indexing="ij")
        self.register_buffer("coords", torch.stack([ys, xs])[None], persistent=False)  # (1, 2, H, W)

    def _trunk(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        coords = self.coords
        if coords.shape[-2:] != frames.shape[-2:]:
            coords = F.interpolate(coords, size=frames.shape[-2:], mode="bilinear", align_corners=True)
        scene = frames[:, : self.config.stack]
        motion = scene[:, 1:] - scene[:, :-1]  # what moved between frames: velocities made visible
        stem = self.stem(torch.cat([frames, motion, coords.expand(frames.shape[0], -1, -1, -1)], dim=1))
        deep = self.deep(stem)
        return stem, deep, self.project(deep)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B, F)."""
        return self._trunk(frames)[2]

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        stem, deep, features = self._trunk(frames)
        context = F.interpolate(deep, size=stem.shape[-2:], mode="bilinear", align_corners=False)
        dense = self.detect(torch.cat([stem, context], dim=1))  # (B, 7, H/4, W/4)
        slots = self.slot_head(features).view(-1, self.config.slots, 7)  # (B, S, 7)
        return dense, slots, self.lane_head(features)  # lane: (B, lane_outputs) scaled by LANE_SCALE

    @torch.no_grad()
    def predict_truth(self, frames: np.ndarray | torch.Tensor, view: np.ndarray) -> np.ndarray:
        """uint8 frames (B, C, H, W) and camera views (B, 4) or (4,) -> (B, S, 6) like sim's truth."""
        device = next(self.parameters()).device
        frames = torch.as_tensor(frames, device=device).float().div_(255)
        dense, slots, _ = self(frames)
        view = np.broadcast_to(np.asarray(view, dtype=np.float32), (len(frames), 4))
        return decode(dense.cpu(), slots.cpu(), torch.from_numpy(view.copy()), self.config).numpy()

    @torch.no_grad()
    def predict_lane(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 frames (B, C, H, W) -> (B, 5) like sim's info["lane"], on_road as a probability."""
        device = next(self.parameters()).device
        lane = self.lane_head(self.features(torch.as_tensor(frames, device=device).float().div_(255))).cpu()
        return decode_lane(lane).numpy()

    def config_dict(self) -> dict:
        return asdict(self.config)

    def check_camera(self, camera: CameraConfig) -> None:
        """Refuse frames of another camera contract, in one line that names the difference."""
        mine = self.config.camera_config
        if camera != mine:
            diff = ", ".join(f"{k} {getattr(camera, k)!r} (encoder: {getattr(mine, k)!r})"
                             for k in mine.__dataclass_fields__ if getattr(camera, k) != getattr(mine, k))
            raise ValueError(f"these camera frames are not the encoder's contract: {diff}")

    def view(self, centering=(0.5, 0.5)) -> np.ndarray:
        """(4,) [m] the ground at the frame's edges (sim.camera.camera_view); centering matters in the world frame."""
        return np.array(camera_view(self.config.camera_config, centering), np.float32)


def decode(dense: torch.Tensor, slots: torch.Tensor, view: torch.Tensor, config: EncoderConfig) -> torch.Tensor:
    """Network outputs -> (B, S, 6) truth layout: row 0 from the slot head (the ego), rows 1..
    from the detections (local maxima above threshold), nearest first."""
    batch, _, rows, cols = dense.shape
    out = torch.zeros(batch, config.slots, 6)
    ego = slots[:, 0, 1:] * TARGET_SCALE
    out[:, 0] = torch.cat([torch.ones(batch, 1), torch.zeros(batch, 2), ego[:, 2:4],
                           torch.atan2(ego[:, 5], ego[:, 4])[:, None]], dim=1)
    prob = torch.sigmoid(dense[:, 0])
    peaks = (prob == F.max_pool2d(prob[:, None], 3, stride=1, padding=1)[:, 0]) & (prob > DETECTION_THRESHOLD)
    row_m, col_m = cell_metres(view, config.height, config.width)  # (B,) each [m per cell]
    for b in range(batch):
        r, c = torch.nonzero(peaks[b], as_tuple=True)
        cell = dense[b, :, r, c]  # (7, K)
        x = view[b, 0] + (r + cell[1]) * row_m[b]
        y = view[b, 2] + (c + cell[2]) * col_m[b]
        found = torch.stack([prob[b, r, c], x, y, cell[3] * VELOCITY_SCALE, cell[4] * VELOCITY_SCALE,
                             torch.atan2(cell[6], cell[5])], dim=1)
        found = found[torch.argsort(torch.hypot(x, y))][: config.slots - 1]
        out[b, 1 : 1 + len(found)] = found
    return out


def decode_lane(lane: torch.Tensor) -> torch.Tensor:
    """Lane head output (B, L) -> sim's info["lane"] layout (its first L), on_road as a probability."""
    values = lane * LANE_SCALE[: lane.shape[1]].to(lane.device)
    return torch.cat([torch.sigmoid(lane[:, :1]), values[:, 1:]], dim=1)


def lane_loss(lane: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE on on_road + smooth L1 on the scaled offsets and angles; (B, lane_outputs) each."""
    target = target[:, : lane.shape[1]]
    scaled = target / LANE_SCALE[: lane.shape[1]].to(target.device)
    return F.binary_cross_entropy_with_logits(lane[:, 0], target[:, 0]) + F.smooth_l1_loss(lane[:, 1:], scaled[:, 1:])


def cell_metres(view: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[m] of ground per detection cell along rows and along columns, (B,) each; negative where
    the axis runs the other way (the ego frame's rows: the first row is ahead)."""
    return (view[:, 1] - view[:, 0]) * CELL / height, (view[:, 3] - view[:, 2]) * CELL / width


def dense_targets(target: torch.Tensor, view: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]):
    """Perception targets (B, S, 6) -> Gaussian heatmap (B, h, w), and for each vehicle its cell,
    sub-cell offset and regression values. size: the frame (H, W) [px].
    Returns (heat, index (N, 3) [b, r, c], values (N, 6))."""
    rows, cols = grid
    present = target[:, 1:, 0] > 0  # (B, V)
    row_m, col_m = cell_metres(view, *size)
    r_px = (target[:, 1:, 1] - view[:, None, 0]) / row_m[:, None]  # [cells]
    c_px = (target[:, 1:, 2] - view[:, None, 2]) / col_m[:, None]
    r_cell = r_px.floor().clamp(0, rows - 1)
    c_cell = c_px.floor().clamp(0, cols - 1)
    rr = torch.arange(rows, device=target.device)[None, None, :, None]
    cc = torch.arange(cols, device=target.device)[None, None, None, :]
    gauss = torch.exp(-((rr - r_cell[..., None, None]) ** 2 + (cc - c_cell[..., None, None]) ** 2) / 2.0)  # sigma 1 cell
    heat = (gauss * present[..., None, None]).amax(dim=1) if target.shape[1] > 1 else torch.zeros(len(target), rows, cols)
    b, v = torch.nonzero(present, as_tuple=True)
    index = torch.stack([b, r_cell[b, v].long(), c_cell[b, v].long()], dim=1)
    h = target[b, v + 1, 5]
    values = torch.stack([r_px[b, v] - r_cell[b, v], c_px[b, v] - c_cell[b, v],
                          target[b, v + 1, 3] / VELOCITY_SCALE, target[b, v + 1, 4] / VELOCITY_SCALE,
                          torch.cos(h), torch.sin(h)], dim=1)
    return heat, index, values


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of vehicles."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = heat >= 1 - 1e-6
    pos = -((1 - p) ** 2 * torch.log(p))[positive].sum()
    neg = -((1 - heat) ** 4 * p**2 * torch.log(1 - p))[~positive].sum()
    return (pos + neg) / positive.sum().clamp(min=1)


def encode_slots(target: torch.Tensor) -> torch.Tensor:
    """(B, S, 6) truth layout -> (B, S, 7): presence, scaled x, y, vx, vy, cos h, sin h."""
    h = target[..., 5]
    values = torch.stack([target[..., 1], target[..., 2], target[..., 3], target[..., 4], torch.cos(h), torch.sin(h)], -1)
    return torch.cat([target[..., :1], values / TARGET_SCALE.to(target.device)], dim=-1)


def perception_loss(outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], target: torch.Tensor,
                    view: torch.Tensor, lane_target: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, dict]:
    """Dense detection (focal + regression at vehicle centres) + slot head (presence BCE +
    regression on present slots, ego velocity and heading) + lane head.

    target: (B, S, 6) perception targets in the camera's frame (dataset.perception_targets);
    view: (B, 4) [m]; lane_target: (B, L) sim's info["lane"]; size: the frame (H, W) [px].
    """
    dense, slots, lane = outputs
    heat, index, values = dense_targets(target, view, dense.shape[-2:], size)
    detection = focal_loss(dense[:, 0], heat)
    at_centres = dense[index[:, 0], 1:, index[:, 1], index[:, 2]]  # (N, 6)
    box = F.smooth_l1_loss(at_centres, values) if len(index) else dense.sum() * 0
    encoded = encode_slots(target)
    presence = encoded[:, 1:, 0]
    slot_bce = F.binary_cross_entropy_with_logits(slots[:, 1:, 0], presence)
    mask = presence[..., None].expand(-1, -1, 6)
    slot_reg = (F.smooth_l1_loss(slots[:, 1:, 1:], encoded[:, 1:, 1:], reduction="none") * mask).sum() / mask.sum().clamp(min=1)
    ego = F.smooth_l1_loss(slots[:, 0, 3:], encoded[:, 0, 3:])
    on_lane = lane_loss(lane, lane_target)
    loss = detection + box + 0.5 * (slot_bce + slot_reg) + ego + on_lane
    return loss, {"detection": detection.item(), "box": box.item(), "slots": (slot_bce + slot_reg).item(),
                  "ego": ego.item(), "lane": on_lane.item()}

"""Recording frames to MP4 (OpenCV) or GIF (Pillow), written to a temp name and renamed at the end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

VIDEO_FORMATS = (".mp4", ".gif")


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, with a clear message, if a video cannot be written at `path`."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_FORMATS:
        raise ValueError(f"cannot record to {path}: the file must end in {' or '.join(VIDEO_FORMATS)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot record to {path}: folder {folder} does not exist")
    try:  # the only reliable test (root, read-only mounts, ACLs): try it
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"cannot record to {path}: cannot write in {folder} ({err.strerror})") from None
    if path.is_dir():
        raise ValueError(f"cannot record to {path}: it is a folder")
    return path


class VideoRecorder:
    """Collects RGB frames (H, W, 3) uint8 and writes them at `fps` frames per second."""

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = check_output_path(path)
        self.fps = float(fps)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._gif_frames: list[Image.Image] = []
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        # Codecs want even sizes: pad odd ones by one black row/column.
        h, w = frame.shape[:2]
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))
        if self.path.suffix.lower() == ".gif":
            self._gif_frames.append(Image.fromarray(frame))
        else:
            if self._writer is None:
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
                if not self._writer.isOpened():
                    raise OSError(f"OpenCV could not open an MP4 writer for {self._tmp}")
            self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None if no frame was added."""
        if self.frames == 0:
            return None
        if self._writer is not None:
            self._writer.release()
        else:
            first, *rest = self._gif_frames
            first.save(self._tmp, save_all=True, append_images=rest, duration=1000 / self.fps, loop=0)
        os.replace(self._tmp, self.path)
        return self.path

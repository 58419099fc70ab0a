"""Exit 0 if a recorded video shows something: at least MIN_FRAMES frames that cv2 decodes, and
none of a few sampled ones a single colour (a headless render that drew nothing is all black).

    python .ci/check_video.py FILE.mp4

On failure: one line on stderr saying what is wrong, and exit 1.
"""

import sys

import cv2

MIN_FRAMES = 2  # the reset frame and one step at least
SAMPLES = 5  # frames checked, spread over the video
MIN_STD = 10.0  # grey-level spread [0-255]; a drawn road scene is ~40-60, a blank frame ~0


def problem(path: str) -> str | None:
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)  # (H, W, 3) uint8
    capture.release()
    if len(frames) < MIN_FRAMES:
        return f"{path}: {len(frames)} frames decoded, expected at least {MIN_FRAMES}"
    picked = sorted({round(i * (len(frames) - 1) / (SAMPLES - 1)) for i in range(SAMPLES)})
    blank = [i for i in picked if frames[i].std() < MIN_STD]
    if blank:
        return f"{path}: frames {blank} of {len(frames)} are one colour (std < {MIN_STD:g}): nothing was drawn"
    return None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/check_video.py FILE.mp4")
    message = problem(sys.argv[1])
    if message:
        sys.exit(f"check_video: {message}")
    print(f"check_video: {sys.argv[1]} ok")

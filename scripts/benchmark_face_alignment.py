"""What landmark alignment (`dfer predict --align-faces`) changes in a trained model's predictions.

    python scripts/benchmark_face_alignment.py --model outputs/sample [--seconds 6]

The same real face (the astronaut portrait scikit-image ships, `tests/fixtures/faces/`) makes the same motion in
videos that differ only in how far the head is tilted in plane (0, +-15, +-30 degrees). A face step that frames
the face the same way whatever the tilt gives the model the same crops, so the timeline of a tilted video should
match the upright one. For alignment off and on, this prints, per tilt, the mean absolute difference of the
class probabilities from the upright video's (window by window) and the share of windows with the same top
label, plus the time per window. Alignment is worth turning on by default when it brings tilted videos closer to
the upright one.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dfer.data.face_samples import write_photo_video
from dfer.inference import load_checkpoint, predict_timeline
from dfer.processing.face_crop import FaceCropOptions

PHOTO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces" / "astronaut.jpg"
TILTS = (0, 15, -15, 30, -30)


def probabilities(timeline) -> np.ndarray:
    return np.array([[row.probabilities[label] for label in timeline.labels] for row in timeline.windows])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained checkpoint folder (e.g. the quick start's)")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    model, processor = load_checkpoint(args.model, "cpu")
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    with tempfile.TemporaryDirectory() as folder:
        videos = {}
        for tilt in TILTS:
            videos[tilt] = Path(folder) / f"tilt{tilt:+d}.mp4"
            write_photo_video(videos[tilt], args.seconds, [photo], (360, 640), face_size=200, tilt=tilt)
        for align in (False, True):
            options = FaceCropOptions(align=align)
            results, seconds = {}, 0.0
            for tilt, video in videos.items():
                started = time.perf_counter()
                timeline = predict_timeline(video, model, processor, 2.0, 0.5, face_options=options)
                seconds += time.perf_counter() - started
                found, total = timeline.face_windows()
                if found != total:
                    raise SystemExit(f"tilt {tilt}: the face was found in only {found} of {total} windows")
                results[tilt] = probabilities(timeline)
            upright = results[0]
            print(f"align={align} ({seconds / sum(len(r) for r in results.values()) * 1000:.0f} ms per window):")
            for tilt in TILTS[1:]:
                difference = np.abs(results[tilt] - upright).mean()
                same_top = np.mean(results[tilt].argmax(1) == upright.argmax(1))
                print(f"  tilt {tilt:+3d}: mean |p - p_upright| {difference:.4f}, same top label {same_top:.0%}")
            shifts = [np.abs(results[tilt] - upright).mean() for tilt in TILTS[1:]]
            print(f"  mean over tilts: {np.mean(shifts):.4f}")


if __name__ == "__main__":
    main()

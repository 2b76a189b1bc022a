import json

import numpy as np
import pytest
import torch
from isolated_process import run_without_dfer
from processing_fixtures import decoded_index, write_frame_folder, write_video
from tiny_models import tiny_gca_resnet_config
from transformers import pipeline

from dfer.modeling import GcaResNetForVideoClassification, register_auto_classes
from dfer.processing import DferVideoProcessor


def test_defaults_match_the_recipes():
    processor = DferVideoProcessor()
    assert processor.num_frames == 16 and processor.size == {"height": 112, "width": 112}
    assert processor.sampler == "segment" and processor.training is False and processor.do_normalize is False
    assert processor.model_input_names == ["pixel_values"]


def test_video_file_gives_sampled_frames_in_unit_range(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 50, size=(36, 52), gop=8)
    out = DferVideoProcessor(size=24)(str(path), num_frames=16, do_sample_frames=True, return_tensors="pt")
    pixels = out["pixel_values"]
    assert pixels.shape == (1, 16, 3, 24, 24) and pixels.dtype == torch.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0
    tick = 50 / 16
    assert [decoded_index(frame) for frame in pixels[0]] == [int(tick / 2 + tick * k) for k in range(16)]


def test_frame_folder_short_clip_is_padded_in_order(tmp_path):
    write_frame_folder(tmp_path / "clip", 5, size=(16, 16))
    pixels = DferVideoProcessor(size=8)(tmp_path / "clip", return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 16, 3, 8, 8)
    indices = [decoded_index(frame) for frame in pixels[0]]
    assert indices == sorted(indices) and set(indices) == set(range(5))


def test_batches_of_mixed_inputs_and_array_layouts(tmp_path):
    write_frame_folder(tmp_path / "frames", 20, size=(10, 14))
    grey_uint8 = np.full((20, 9, 9), 200, np.uint8)
    rgba_float = torch.full((18, 4, 13, 7), 0.25)
    processor = DferVideoProcessor(size=(6, 5), num_frames=4)
    pixels = processor([str(tmp_path / "frames"), grey_uint8, rgba_float], return_tensors="pt")[
        "pixel_values"
    ]
    assert pixels.shape == (3, 4, 3, 6, 5)
    assert torch.allclose(pixels[1], torch.full_like(pixels[1], 200 / 255), atol=1e-5)
    assert torch.allclose(pixels[2], torch.full_like(pixels[2], 0.25), atol=1e-5)
    assert isinstance(processor(grey_uint8, return_tensors="np")["pixel_values"], np.ndarray)


def test_training_mode_samples_randomly_and_is_reproducible_with_a_seed(tmp_path):
    write_frame_folder(tmp_path / "clip", 64, size=(24, 24))
    processor = DferVideoProcessor(size=12, training=True)
    first = processor(tmp_path / "clip", seed=1, return_tensors="pt")["pixel_values"]
    assert torch.equal(first, processor(tmp_path / "clip", seed=1, return_tensors="pt")["pixel_values"])
    others = [processor(tmp_path / "clip", seed=s, return_tensors="pt")["pixel_values"] for s in range(2, 6)]
    assert any(not torch.equal(first, other) for other in others)
    evaluation = DferVideoProcessor(size=12)
    assert torch.equal(
        evaluation(tmp_path / "clip")["pixel_values"], evaluation(tmp_path / "clip")["pixel_values"]
    )


def test_bad_options_raise_clearly(tmp_path):
    processor = DferVideoProcessor()
    with pytest.raises(TypeError, match="unknown options"):
        processor(np.zeros((4, 8, 8, 3), np.uint8), frame_rate=3)
    with pytest.raises(ValueError, match="sampler"):
        processor(np.zeros((4, 8, 8, 3), np.uint8), sampler="dense")
    with pytest.raises(ValueError, match="does not implement"):
        processor(np.zeros((4, 8, 8, 3), np.uint8), do_center_crop=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        processor(np.full((4, 8, 8, 3), 7.0, np.float32))


def test_saved_processor_round_trips_and_is_never_saved_in_training_mode(tmp_path):
    processor = DferVideoProcessor(
        sampler="segment_pairs", augmentation="logo_former", size=64, training=True
    )
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["training"] is False and saved["sampler"] == "segment_pairs"
    loaded = DferVideoProcessor.from_pretrained(tmp_path)
    assert loaded.size == {"height": 64, "width": 64} and loaded.augmentation["crop_area"] == [0.08, 1.0]


def test_pipeline_in_process_and_as_remote_code_without_dfer(tmp_path):
    register_auto_classes()  # as `import dfer.modeling` does
    torch.manual_seed(0)
    model = GcaResNetForVideoClassification(tiny_gca_resnet_config()).eval()
    checkpoint = tmp_path / "checkpoint"
    model.save_pretrained(checkpoint)
    DferVideoProcessor(size=32, num_frames=4).save_pretrained(checkpoint)
    assert (checkpoint / "video_processing_dfer.py").is_file() and (
        checkpoint / "video_decoding.py"
    ).is_file()
    write_video(tmp_path / "user_video.mp4", 30, size=(40, 56))
    write_frame_folder(tmp_path / "user_frames", 12, size=(20, 20))

    classifier = pipeline("video-classification", model=str(checkpoint))
    assert type(classifier.video_processor) is DferVideoProcessor
    in_process = classifier(str(tmp_path / "user_video.mp4"), top_k=7)
    assert {result["label"] for result in in_process} == set(model.config.id2label.values())

    output = run_without_dfer(
        f"""
        import json
        from transformers import pipeline
        classifier = pipeline("video-classification", model="checkpoint", trust_remote_code=True)
        assert type(classifier.video_processor).__name__ == "DferVideoProcessor"
        assert type(classifier.video_processor).__module__.startswith("transformers_modules")
        video = classifier({str(tmp_path / "user_video.mp4")!r}, top_k=7)
        frames = classifier({str(tmp_path / "user_frames")!r}, top_k=2)
        print(json.dumps({{"video": video, "frames": frames}}))
        """,
        cwd=tmp_path,
    )
    remote = json.loads(output.strip().splitlines()[-1])
    assert [r["label"] for r in remote["video"]] == [r["label"] for r in in_process]
    assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(remote["video"], in_process, strict=True))
    assert len(remote["frames"]) == 2

import pytest
import torch

from dfer.processing.frame_sampling import sample_frame_indices, spread_indices


def test_segment_eval_is_ial_centre_formula():
    n = 50
    tick = n / 16
    expected = [int(tick / 2 + tick * k) for k in range(16)]
    assert sample_frame_indices(n, 16, "segment", training=False) == expected
    assert sample_frame_indices(n, 16, "segment", training=False) == sample_frame_indices(n, 16, "segment")


def test_segment_train_draws_one_frame_inside_each_segment():
    n, segment = 70, 70 // 16
    seen = set()
    for seed in range(30):
        indices = sample_frame_indices(n, 16, "segment", True, torch.Generator().manual_seed(seed))
        assert len(indices) == 16
        for k, index in enumerate(indices):
            assert k * segment <= index < (k + 1) * segment
        seen.add(tuple(indices))
    assert len(seen) > 1  # random in training


def test_segment_pairs_yield_consecutive_frames_and_centres_in_eval():
    indices = sample_frame_indices(80, 16, "segment_pairs", training=False)
    starts = indices[0::2]
    assert indices[1::2] == [start + 1 for start in starts]
    tick = 79 / 8
    assert starts == [int(tick / 2 + tick * k) for k in range(8)]
    for seed in range(10):
        train = sample_frame_indices(80, 16, "segment_pairs", True, torch.Generator().manual_seed(seed))
        assert train[1::2] == [start + 1 for start in train[0::2]]
        assert train == sorted(train) and max(train) <= 79


def test_uniform_spans_clip_and_is_deterministic_in_eval():
    assert sample_frame_indices(160, 16, "uniform") == [5 + 10 * k for k in range(16)]
    train = sample_frame_indices(160, 16, "uniform", True, torch.Generator().manual_seed(0))
    assert all(b - a == 10 for a, b in zip(train, train[1:], strict=False))


@pytest.mark.parametrize("sampler", ["segment", "segment_pairs", "uniform"])
@pytest.mark.parametrize("training", [False, True])
def test_short_clips_are_spread_in_order_and_use_every_frame(sampler, training):
    for n in (1, 5, 11, 15):
        indices = sample_frame_indices(n, 16, sampler, training)
        assert len(indices) == 16
        assert indices == sorted(indices)
        assert set(indices) == set(range(n))


def test_spread_repeats_evenly():
    assert spread_indices(8, 16) == [i // 2 for i in range(16)]


def test_sampler_errors_are_clear():
    with pytest.raises(ValueError, match="Unknown sampler"):
        sample_frame_indices(20, 16, "random")
    with pytest.raises(ValueError, match="multiple of 2"):
        sample_frame_indices(40, 15, "segment_pairs")
    with pytest.raises(ValueError, match="no frames"):
        sample_frame_indices(0, 16)

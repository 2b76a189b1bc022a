from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F

from dfer.training import IntensityAwareObjective, intensity_aware_loss


def random_batch(seed=0, batch_size=6, num_labels=7):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch_size, num_labels, generator=generator, dtype=torch.float64)
    labels = torch.randint(num_labels, (batch_size,), generator=generator)
    return logits, labels


def test_equals_softplus_of_rival_minus_target():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.5, 3.0, 2.9], [-1.0, -2.0, 4.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    # Rivals: row 0 -> class 1 (1.0), row 1 -> class 2 (2.9), row 2 -> class 2 (4.0).
    expected = F.softplus(torch.tensor([1.0 - 2.0, 2.9 - 3.0, 4.0 - (-1.0)], dtype=torch.float64))
    torch.testing.assert_close(intensity_aware_loss(logits, labels, reduction="none"), expected)
    torch.testing.assert_close(intensity_aware_loss(logits, labels), expected.mean())
    torch.testing.assert_close(intensity_aware_loss(logits, labels, reduction="sum"), expected.sum())


def test_equals_two_class_cross_entropy_over_target_and_rival():
    logits, labels = random_batch(seed=1)
    # Mask every class but the target and the strongest other class, then take ordinary cross-entropy.
    others = logits.scatter(1, labels[:, None], float("-inf"))
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep.scatter_(1, labels[:, None], True)
    keep.scatter_(1, others.argmax(1, keepdim=True), True)
    masked_ce = F.cross_entropy(logits.masked_fill(~keep, float("-inf")), labels)
    torch.testing.assert_close(intensity_aware_loss(logits, labels), masked_ce)


def test_gradient_reaches_only_target_and_rival():
    logits, labels = random_batch(seed=2)
    logits.requires_grad_(True)
    intensity_aware_loss(logits, labels, reduction="sum").backward()
    rivals = logits.detach().scatter(1, labels[:, None], float("-inf")).argmax(1)
    for row in range(logits.shape[0]):
        nonzero = set(torch.nonzero(logits.grad[row]).flatten().tolist())
        assert nonzero == {labels[row].item(), rivals[row].item()}
        assert logits.grad[row, labels[row]] < 0 < logits.grad[row, rivals[row]]
        torch.testing.assert_close(logits.grad[row].sum(), torch.zeros((), dtype=torch.float64))


def test_weak_target_gets_the_largest_gradient():
    # A clip whose target barely wins (low intensity) is pushed harder than a confident one.
    logits = torch.tensor([[5.0, 0.0, 0.0], [1.0, 0.9, 0.0]], requires_grad=True)
    intensity_aware_loss(logits, torch.tensor([0, 0]), reduction="sum").backward()
    assert logits.grad[1, 0].abs() > 10 * logits.grad[0, 0].abs()


def test_released_objective_combines_the_terms():
    logits, labels = random_batch(seed=3)
    aux2, _ = random_batch(seed=4)
    aux3, _ = random_batch(seed=5)
    outputs = SimpleNamespace(logits=logits, auxiliary_logits=(aux2, aux3))
    result = IntensityAwareObjective()(outputs, labels)
    expected = (
        F.cross_entropy(logits, labels)
        + 0.1 * intensity_aware_loss(logits, labels)
        + 0.05 * F.cross_entropy(aux2, labels)
    )
    torch.testing.assert_close(result.loss, expected)
    assert set(result.components) == {"cross_entropy", "intensity_aware", "auxiliary_0", "auxiliary_1"}

    weighted = IntensityAwareObjective(ce_weight=0.5, ial_weight=2.0, auxiliary_weights=(0.0, 0.3))
    expected = (
        0.5 * F.cross_entropy(logits, labels)
        + 2.0 * intensity_aware_loss(logits, labels)
        + 0.3 * F.cross_entropy(aux3, labels)
    )
    torch.testing.assert_close(weighted(outputs, labels).loss, expected)


def test_weight_for_a_missing_auxiliary_head_is_an_error():
    logits, labels = random_batch()
    with pytest.raises(ValueError, match="auxiliary logits"):
        IntensityAwareObjective(auxiliary_weights=(0.05, 0.1))(SimpleNamespace(logits=logits, auxiliary_logits=(logits,)), labels)


def test_bad_logits_shape():
    with pytest.raises(ValueError, match="num_labels >= 2"):
        intensity_aware_loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))

"""The compact loss: value on a hand-computed example, gradient directions, optimizer groups, checkpointing, and
identical centres across two gloo processes."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dfer.training.compact_loss import COMPACT_LOSS_FILENAME, CompactLoss


def hand_example_loss(lambda_: float = 0.01) -> CompactLoss:
    loss = CompactLoss(num_classes=3, feature_dim=2, lambda_=lambda_, delta=1.0)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    return loss


def test_value_on_a_hand_computed_example():
    loss = hand_example_loss(lambda_=0.01)
    features = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 2])
    # f0 = (1, 1), class 0: distances^2 to the centres 2, 1, 2 -> 0.5 * 2 / (1 + 2 + 1) = 0.25
    # f1 = (0, 1), class 2: distances^2 1, 2, 1 -> 0.5 * 1 / (1 + 2 + 1) = 0.125
    assert loss.compact_term(features, labels).item() == pytest.approx(0.1875)
    assert loss(features, labels).item() == pytest.approx(0.001875)
    assert CompactLoss(3, 2).lambda_ == 0.01 and CompactLoss(3, 2).delta == 1.0


def test_gradient_pulls_the_feature_to_its_centre_and_pushes_it_from_the_others():
    loss = hand_example_loss()
    feature = torch.tensor([[0.6, 0.9]], requires_grad=True)
    label = torch.tensor([1])
    loss.compact_term(feature, label).backward()

    def distances(point: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return (point - centers).pow(2).sum(-1)

    with torch.no_grad():
        before = distances(feature[0], loss.centers)
        after = distances(feature[0] - 0.1 * feature.grad[0], loss.centers)
    assert after[1] < before[1]  # closer to its own centre
    assert after[[0, 2]].sum() > before[[0, 2]].sum()  # farther from the others

    # The centres move too: the own centre toward the feature, every other centre away from it.
    with torch.no_grad():
        moved = loss.centers - 0.1 * loss.centers.grad
        center_distances_before = distances(feature[0], loss.centers)
        center_distances_after = distances(feature[0], moved)
    assert center_distances_after[1] < center_distances_before[1]
    assert (center_distances_after[[0, 2]] > center_distances_before[[0, 2]]).all()


def test_minimising_the_loss_makes_classes_compact_and_separated():
    torch.manual_seed(0)
    loss = CompactLoss(num_classes=3, feature_dim=4, lambda_=1.0)
    features = torch.randn(12, 4, requires_grad=True)
    labels = torch.arange(12) % 3
    optimizer = torch.optim.SGD([{"params": [features]}, *loss.param_groups(lr=2.0)], lr=2.0)
    start = loss(features, labels).item()
    for _ in range(200):
        optimizer.zero_grad()
        loss(features, labels).backward()
        optimizer.step()
    assert loss(features, labels).item() < 0.05 * start
    nearest = torch.cdist(features.detach(), loss.centers.detach()).argmin(dim=1)
    assert torch.equal(nearest, labels)


def test_param_groups_carry_their_own_learning_rate():
    loss = CompactLoss(num_classes=7, feature_dim=8)
    model = torch.nn.Linear(8, 7)
    optimizer = torch.optim.SGD(
        [{"params": model.parameters()}, *loss.param_groups(lr=0.5)], lr=0.01, weight_decay=1e-4
    )
    assert optimizer.param_groups[1]["params"][0] is loss.centers
    assert optimizer.param_groups[1]["lr"] == 0.5 and optimizer.param_groups[1]["weight_decay"] == 0.0
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_save_and_load_restore_the_centres(tmp_path):
    saved = CompactLoss(num_classes=7, feature_dim=8)
    path = saved.save(tmp_path)
    assert path.endswith(COMPACT_LOSS_FILENAME)
    restored = CompactLoss(num_classes=7, feature_dim=8)
    assert not torch.equal(restored.centers, saved.centers)
    restored.load(tmp_path)
    assert torch.equal(restored.centers, saved.centers)
    with pytest.raises(ValueError, match="shape"):
        CompactLoss(num_classes=5, feature_dim=8).load(tmp_path)
    with pytest.raises(FileNotFoundError, match="compact-loss state"):
        restored.load(tmp_path / "missing")


def test_bad_inputs_raise():
    loss = CompactLoss(num_classes=3, feature_dim=2)
    with pytest.raises(ValueError, match=r"\(batch_size, 2\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="Labels must lie"):
        loss(torch.zeros(2, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="delta"):
        CompactLoss(num_classes=3, feature_dim=2, delta=0.0)


# ----------------------------------------------------------------------------------------------------------------
# Two data-parallel processes (gloo, CPU)
# ----------------------------------------------------------------------------------------------------------------


def _train_centres(rank: int, world_size: int, init_file: str, result_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(100 + rank)  # different seeds: different initial centres and batches on each rank
        variants = {
            "synced": CompactLoss(num_classes=3, feature_dim=4, lambda_=1.0),
            # Same start (explicit broadcast) but no gradient averaging: the steps must make the centres drift.
            "broadcast_only": CompactLoss(num_classes=3, feature_dim=4, lambda_=1.0, synchronize=False),
            "unsynced": CompactLoss(num_classes=3, feature_dim=4, lambda_=1.0, synchronize=False),
        }
        variants["broadcast_only"].broadcast_centers()
        optimizers = {
            name: torch.optim.SGD(loss.param_groups(lr=0.5, momentum=0.9), lr=0.5)
            for name, loss in variants.items()
        }
        for _ in range(3):
            features = torch.randn(4, 4)
            labels = torch.randint(0, 3, (4,))
            for name, loss in variants.items():
                optimizers[name].zero_grad()
                loss(features, labels).backward()
                optimizers[name].step()
        gathered = {}
        for name, loss in variants.items():
            centres = [torch.empty_like(loss.centers.data) for _ in range(world_size)]
            dist.all_gather(centres, loss.centers.data)
            gathered[name] = torch.stack(centres)
        if rank == 0:
            torch.save(gathered, result_file)
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_end_each_step_with_identical_centres(tmp_path):
    result_file = tmp_path / "centres.pt"
    mp.spawn(_train_centres, args=(2, str(tmp_path / "init"), str(result_file)), nprocs=2, join=True)
    gathered = torch.load(result_file, weights_only=True)
    synced = gathered["synced"]
    assert torch.equal(synced[0], synced[1])
    assert not torch.equal(gathered["broadcast_only"][0], gathered["broadcast_only"][1])
    assert not torch.allclose(gathered["unsynced"][0], gathered["unsynced"][1])

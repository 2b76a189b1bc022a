import pytest
import torch
from tiny_models import tiny_gca_resnet_config

from dfer.modeling import GcaResNetForVideoClassification
from dfer.training.trainer import DferTrainer, DferTrainingArguments


def tiny_dataset(size: int = 8):
    config = tiny_gca_resnet_config()
    shape = (config.num_frames, 3, config.image_size, config.image_size)
    return [{"pixel_values": torch.rand(shape), "labels": index % 7} for index in range(size)]


def make_trainer(tmp_path, **arguments) -> DferTrainer:
    args = DferTrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=0.1,
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        **arguments,
    )
    model = GcaResNetForVideoClassification(tiny_gca_resnet_config())
    return DferTrainer(model=model, args=args, train_dataset=tiny_dataset())


@pytest.mark.parametrize("limit", [{"num_train_epochs": 3}, {"max_steps": 6}])
def test_step_schedule_decays_every_n_epochs(tmp_path, limit):
    # 8 clips in batches of 4: 2 optimiser steps per epoch, whether the run is bounded by epochs or steps.
    trainer = make_trainer(tmp_path, optim="sgd", lr_step_epochs=1, lr_step_gamma=0.5, **limit)
    trainer.create_optimizer_and_scheduler(num_training_steps=6)
    learning_rates = []
    for _ in range(6):
        learning_rates.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert learning_rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_weight_decay_on_all_parameters_when_asked(tmp_path):
    trainer = make_trainer(tmp_path, weight_decay=0.1)
    all_names = {name for name, _ in trainer.model.named_parameters()}
    assert set(trainer.get_decay_parameter_names(trainer.model)) < all_names  # biases and norms excluded
    trainer = make_trainer(tmp_path, weight_decay=0.1, weight_decay_all_parameters=True)
    assert set(trainer.get_decay_parameter_names(trainer.model)) == all_names


def test_compact_centres_get_their_own_group_once(tmp_path):
    trainer = make_trainer(
        tmp_path, objective="compact", centers_learning_rate=0.7, optim="sgd", optim_args="momentum=0.9"
    )
    optimizer = trainer.create_optimizer()
    assert trainer.create_optimizer() is optimizer  # a second train() must not add the centres again
    centre_groups = [
        g
        for g in optimizer.param_groups
        if any(p is trainer.objective.compact_loss.centers for p in g["params"])
    ]
    assert len(centre_groups) == 1
    assert centre_groups[0]["lr"] == 0.7 and centre_groups[0]["weight_decay"] == 0.0
    assert centre_groups[0]["momentum"] == 0.9  # other options follow the main optimiser


def test_the_commands_default_to_the_cpu_only_where_there_is_no_accelerator_at_all(monkeypatch):
    from dfer.training import arguments

    # An Apple-silicon machine: no CUDA, but MPS. The commands must not force it onto the CPU.
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: torch.device("mps"))
    assert arguments.has_accelerator()
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: None)
    assert not arguments.has_accelerator()
    parser = arguments.evaluation_argument_parser()
    assert parser.parse_args_into_dataclasses(["--checkpoint", "c"])[2].use_cpu == arguments.COMMAND_DEFAULTS["use_cpu"]

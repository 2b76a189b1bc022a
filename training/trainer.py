"""`DferTrainer`: a `transformers.Trainer` whose loss is a DFER objective (cross-entropy, IAL, compact loss).

The objective's own state (the compact loss's class centres) is optimised with its own learning rate and saved
into every Trainer checkpoint next to `optimizer.pt`, so `resume_from_checkpoint` restores it exactly. Every saved
folder can also carry the run's own files (`extra_files`: the run's arguments, so a resumed run can check that a
checkpoint is its own), and its `training_args.bin` (a pickle of the arguments) never carries a token.
"""

import math
import os
from dataclasses import dataclass, field, fields

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments

from .objectives import (
    COMPACT_CENTERS_LEARNING_RATE,
    COMPACT_DELTA,
    COMPACT_LAMBDA,
    IAL_AUXILIARY_WEIGHTS,
    IAL_WEIGHT,
    OBJECTIVES,
    CrossEntropyObjective,
    ObjectiveOutput,
    build_objective,
)

OBJECTIVE_STATE_NAME = "objective.safetensors"


@dataclass
class DferTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the DFER objective and the step schedule of the paper recipes."""

    objective: str = field(default="ce", metadata={"help": f"training objective: {', '.join(OBJECTIVES)}"})
    ial_weight: float = field(default=IAL_WEIGHT, metadata={"help": "weight of the Intensity-Aware Loss (objective=ial)"})
    auxiliary_weights: list[float] = field(
        default_factory=lambda: list(IAL_AUXILIARY_WEIGHTS),
        metadata={"help": "weights of the auxiliary GCA heads' cross-entropy (objective=ial)"},
    )
    compact_lambda: float = field(default=COMPACT_LAMBDA, metadata={"help": "weight of the compact loss (objective=compact)"})
    compact_delta: float = field(default=COMPACT_DELTA, metadata={"help": "denominator offset of the compact loss"})
    centers_learning_rate: float = field(
        default=COMPACT_CENTERS_LEARNING_RATE, metadata={"help": "learning rate of the compact loss's class centres"}
    )
    lr_step_epochs: float | None = field(
        default=None,
        metadata={"help": "StepLR: multiply the learning rate by lr_step_gamma every this many epochs "
                  "(overrides lr_scheduler_type)"},
    )
    lr_step_gamma: float = field(default=0.1, metadata={"help": "StepLR decay factor"})
    weight_decay_all_parameters: bool = field(
        default=False,
        metadata={"help": "apply weight_decay to biases and norm weights too, as the papers' plain SGD does"},
    )
    ignore_resume_mismatch: bool = field(
        default=False,
        metadata={"help": "resume a checkpoint even if it was written with another model, data, fold, objective "
                  "or seed (refused otherwise)"},
    )


class ZeroObjectiveGradients(TrainerCallback):
    """The Trainer zeroes only the model's gradients after each optimiser step; an objective with parameters of
    its own (class centres) would otherwise accumulate gradient across steps."""

    def __init__(self, objective: nn.Module):
        self.objective = objective

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.objective.zero_grad(set_to_none=True)


class DferTrainer(Trainer):
    """Trainer whose `compute_loss` applies `objective` (an nn.Module: `forward(outputs, labels)`)."""

    def __init__(
        self, *args, objective: nn.Module | None = None, extra_files: dict[str, str] | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        # name -> text, written into every folder the Trainer saves a model to (checkpoints and the final save).
        self.extra_files = dict(extra_files or {})
        if objective is None:
            objective = self._objective_from_args()
        self.objective = objective.to(self.args.device)
        if any(True for _ in self.objective.parameters()):
            self.add_callback(ZeroObjectiveGradients(self.objective))
        self._component_sums: dict[str, torch.Tensor] = {}
        self._component_steps = 0

    def _objective_from_args(self) -> nn.Module:
        args = self.args
        if not isinstance(args, DferTrainingArguments):
            return CrossEntropyObjective()
        config = self.model.config
        return build_objective(
            args.objective,
            num_labels=config.num_labels,
            feature_dim=getattr(config, "hidden_size", None) or getattr(config, "temporal_hidden_size", None),
            ial_weight=args.ial_weight,
            auxiliary_weights=args.auxiliary_weights,
            compact_lambda=args.compact_lambda,
            compact_delta=args.compact_delta,
            centers_learning_rate=args.centers_learning_rate,
            label_smoothing=args.label_smoothing_factor,
        )

    # -- loss ------------------------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        outputs = model(**{name: value for name, value in inputs.items() if name != "labels"})
        result: ObjectiveOutput = self.objective(outputs, labels)
        if model.training:
            # Summed as tensors: reading them (a device sync) waits for the next log.
            for name, value in result.components.items():
                self._component_sums[name] = self._component_sums.get(name, 0.0) + value.detach()
            self._component_steps += 1
        return (result.loss, outputs) if return_outputs else result.loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # `--bf16_full_eval` casts the model, not the batches: the models refuse pixel values of another dtype.
        pixel_values = inputs.get("pixel_values")
        dtype = next(model.parameters()).dtype
        if isinstance(pixel_values, torch.Tensor) and pixel_values.is_floating_point() and pixel_values.dtype != dtype:
            inputs = {**inputs, "pixel_values": pixel_values.to(dtype)}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training logs also carry each objective term, averaged since the last log (this process's batches).
        if "loss" in logs and self._component_steps:
            for name, total in self._component_sums.items():
                logs[f"loss_{name}"] = round(float(total) / self._component_steps, 6)
            self._component_sums, self._component_steps = {}, 0
        super().log(logs, start_time)

    # -- optimiser and schedule -------------------------------------------------------------------------------

    def get_decay_parameter_names(self, model) -> list[str]:
        if getattr(self.args, "weight_decay_all_parameters", False):
            return [name for name, _ in model.named_parameters()]
        return super().get_decay_parameter_names(model)

    def create_optimizer(self, model=None):
        # The Trainer calls this on every train(); the objective's groups join a new optimiser only once.
        is_new = self.optimizer is None
        optimizer = super().create_optimizer(model)
        groups = self.objective.param_groups() if is_new and hasattr(self.objective, "param_groups") else []
        for group in groups:
            # Group options the objective does not set (momentum...) come from the main optimiser.
            optimizer.add_param_group({**{k: v for k, v in optimizer.defaults.items() if k != "params"}, **group})
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        step_epochs = getattr(self.args, "lr_step_epochs", None)
        if step_epochs is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        optimizer = optimizer if optimizer is not None else self.optimizer
        # Optimiser steps per epoch on this process (the dataloader is already split across processes).
        steps_per_epoch = max(1, len(self.get_train_dataloader()) // self.args.gradient_accumulation_steps)
        step_size = max(1, round(step_epochs * steps_per_epoch))
        gamma = self.args.lr_step_gamma
        # StepLR counted in optimiser steps: the factor drops by gamma every `step_epochs` epochs, for every
        # parameter group (the compact loss's centres included, as a StepLR over one optimiser does).
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: gamma ** math.floor(step / step_size)
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    # -- what every saved folder holds ---------------------------------------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # `Trainer._save` pickles the arguments into training_args.bin: keep tokens (`--hub_token`) out of it.
        secrets = {
            f.name: getattr(self.args, f.name)
            for f in fields(self.args)
            if f.name.endswith("_token") and getattr(self.args, f.name, None) is not None
        }
        for name in secrets:
            setattr(self.args, name, None)
        try:
            super()._save(output_dir, state_dict)
        finally:
            for name, value in secrets.items():
                setattr(self.args, name, value)
        if self.args.should_save and self.extra_files:
            folder = output_dir if output_dir is not None else self.args.output_dir
            os.makedirs(folder, exist_ok=True)
            for name, text in self.extra_files.items():
                with open(os.path.join(folder, name), "w", encoding="utf-8") as file:
                    file.write(text)

    # -- objective state in checkpoints -----------------------------------------------------------------------

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        state = self.objective.state_dict()
        if state and self.args.should_save:
            tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
            save_file(tensors, os.path.join(output_dir, OBJECTIVE_STATE_NAME))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None or not self.objective.state_dict():
            return
        path = os.path.join(checkpoint, OBJECTIVE_STATE_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} is missing: this checkpoint was not saved with the '{self.args.objective}' objective's "
                "state; resume with the objective it was trained with."
            )
        state = load_file(path, device=str(self.args.device))
        self.objective.load_state_dict(state)

"""Train and evaluate a DFER model.

    accelerate launch scripts/train.py --model gca_resnet --dataset dfew --data_dir DFEW --fold 1 --output_dir out
    python scripts/train.py --dataset sample --data_dir data/sample --output_dir outputs/sample

A recipe (--recipe ial | logo_former | sample; default: the model's paper recipe, or `sample` for GCA-ResNet on
the sample dataset) sets every hyper-parameter; any flag given on the command line overrides it. Resume an interrupted run
with --resume_from_checkpoint last (or a checkpoint folder).
"""

import argparse
import json
import sys

import torch
from accelerate import PartialState
from transformers import HfArgumentParser

from dfer.training.recipes import default_recipe, recipe_defaults
from dfer.training.run import DataArguments, ModelArguments, summary_line, train_and_evaluate
from dfer.training.trainer import DferTrainingArguments

# Defaults of this script that differ from TrainingArguments': keep every epoch's work, log to TensorBoard.
SCRIPT_DEFAULTS = {
    "save_strategy": "epoch",
    "save_total_limit": 2,
    "logging_steps": 10,
    "report_to": ["tensorboard"],
    "dataloader_num_workers": 0,
    "ddp_find_unused_parameters": False,
    "dataloader_pin_memory": torch.cuda.is_available(),
}


def choose_recipe(argv: list[str]) -> str:
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--recipe")
    probe.add_argument("--model", default="gca_resnet")
    probe.add_argument("--dataset", default="dfew")
    known, _ = probe.parse_known_args(argv)
    return known.recipe or default_recipe(known.model, known.dataset)


def build_parser(argv: list[str]) -> HfArgumentParser:
    """The argument parser with the chosen recipe's values as defaults."""
    recipe = choose_recipe(argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, DferTrainingArguments), description=__doc__)
    parser.set_defaults(**SCRIPT_DEFAULTS, **recipe_defaults(recipe), recipe=recipe)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args = build_parser(argv).parse_args_into_dataclasses(argv)
    recipe = model_args.recipe
    record = train_and_evaluate(model_args, data_args, training_args)
    if not PartialState().is_main_process:
        return
    print(json.dumps({"per_class_accuracy": record["metrics"]["per_class_accuracy"]}, indent=1))
    print(f"{record['model_type']} ({recipe} recipe) on {record['dataset']}: {summary_line(record)}")
    print(f"Saved to {training_args.output_dir}")


if __name__ == "__main__":
    main()

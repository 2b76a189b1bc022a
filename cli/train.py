"""`dfer train`: train and evaluate one model, over `dfer.training.train_and_evaluate`.

Every `TrainingArguments` flag works. A recipe (--recipe ial | logo_former | sample | finetune; default: the
model's paper recipe, `sample` for GCA-ResNet on the sample dataset, `finetune` from --model_name_or_path) sets
every hyper-parameter; any flag given on the command line overrides it. Your own clips: --dataset videofolder
(root/<label>/<clip>, optionally under train/ validation/ test/) or --dataset manifest (CSV or JSON Lines with
path,label[,split]); the labels are the class names (sorted, or --class_names). Resume an interrupted run with --resume_from_checkpoint last (the newest complete
checkpoint in --output_dir; incomplete ones are set aside, with a warning) or a checkpoint folder. A checkpoint
written with another model, data, fold, objective or seed is refused unless --ignore_resume_mismatch; a new run
in a folder that already holds checkpoints or a finished run is refused (choose another --output_dir). One run
at a time per --output_dir: a second one stops with an error while the first holds the folder. Data parallel:
`torchrun --nproc_per_node 2 -m dfer.cli train ...` or
`accelerate launch --multi_gpu --num_processes 2 -m dfer.cli train ...`.
"""

import argparse
import json
import sys

from accelerate import PartialState

from dfer.training import (
    end_distributed_run,
    train_and_evaluate,
    training_argument_parser,
)
from dfer.training.arguments import check_run_arguments
from dfer.training.evaluation import summary_line

from .card import leave_model_card
from .run_errors import report_run_error

EXAMPLE = """examples:
  dfer train --dataset sample --data_dir sample_data --output_dir outputs/sample
  dfer train --dataset videofolder --data_dir my_clips --output_dir outputs/mine
  dfer train --model_name_or_path outputs/sample --dataset manifest --data_dir my_clips/manifest.csv \\
      --ignore_mismatched_sizes --output_dir outputs/finetuned
  accelerate launch -m dfer.cli train --model gca_resnet --dataset dfew --data_dir DFEW --fold 1 --output_dir out/fold1"""


def parse(argv: list[str], *extra_dataclasses, prog: str, description: str, example: str):
    """The dataclasses of a training command; `ValueError` for any setting that cannot work."""
    parser = training_argument_parser(
        argv,
        *extra_dataclasses,
        prog=prog,
        description=description,
        epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parsed = parser.parse_args_into_dataclasses(argv)
    check_run_arguments(parsed[0], parsed[1], parsed[-1])
    return parsed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        model_args, data_args, training_args = parse(
            argv, prog="dfer train", description=__doc__, example=EXAMPLE
        )
        record = train_and_evaluate(model_args, data_args, training_args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        return report_run_error("train", error)
    is_main_process = PartialState().is_main_process
    end_distributed_run()
    if is_main_process:
        leave_model_card("train", training_args.output_dir)
        print(json.dumps({"per_class_accuracy": record["metrics"]["per_class_accuracy"]}, indent=1))
        print(f"{record['model_type']} ({model_args.recipe} recipe) on {record['dataset']}: {summary_line(record)}")
        print(f"Saved to {training_args.output_dir}")
    return 0

"""`dfer evaluate`: evaluate a saved checkpoint (model + processor) on a dataset split, over
`dfer.training.evaluate_checkpoint`; print and save WAR, UAR and per-class accuracy (metrics.json and the
confusion-matrix figure in --output_dir).

metrics.json names the checkpoint by its folder name (or Hub repo id), never a path of this machine, and carries
the checkpoint's own `model_selection` (from its metrics.json), or "unknown" when it has none."""

import argparse
import json
import sys
from pathlib import Path

from accelerate import PartialState

from dfer.training import (
    end_distributed_run,
    evaluate_checkpoint,
    evaluation_argument_parser,
)
from dfer.training.arguments import check_evaluation_arguments
from dfer.training.evaluation import published_evaluation_record, summary_line, write_metrics
from dfer.training.run_checks import check_output_folder

from .errors import report_error
from .run_errors import report_run_error

EXAMPLE = """example:
  dfer evaluate --checkpoint out/fold1 --dataset dfew --data_dir DFEW --fold 1 --output_dir out/eval"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = evaluation_argument_parser(
        prog="dfer evaluate", description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    try:
        evaluation_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
        check_evaluation_arguments(evaluation_args, data_args)
        check_output_folder(training_args.output_dir)
        record = evaluate_checkpoint(evaluation_args.checkpoint, data_args, training_args, evaluation_args.split)
    except (ValueError, OSError) as error:
        return report_run_error("evaluate", error)
    is_main_process = PartialState().is_main_process
    failure = None
    if is_main_process:
        try:
            # Read the checkpoint's own record before writing over it (--output_dir may be the checkpoint).
            record = published_evaluation_record(record)
            write_metrics(Path(training_args.output_dir), record)
        except (ValueError, OSError) as error:
            failure = error
    end_distributed_run()  # every process, the main one included when its write failed
    if failure is not None:
        return report_error("evaluate", failure)
    if is_main_process:
        print(json.dumps(record.metrics.per_class_accuracy, indent=1))
        summary = summary_line(record.to_dict())
        print(f"{evaluation_args.checkpoint} on {data_args.dataset} {evaluation_args.split}: {summary}")
    return 0

"""`dfer folds`: the DFEW / MAFW 5-fold protocol, over `dfer.training.run_folds`: train and test every fold under
`output_dir/fold_<k>`, then a results table (per fold and mean +- std) as results.json and results.md.

Takes every option of `dfer train`, plus --folds (default 1 2 3 4 5). Folds already finished are kept, so
rerunning the command resumes the protocol.
"""

import sys

from accelerate import PartialState

from dfer.training import FoldArguments, end_distributed_run, run_folds
from dfer.training.arguments import FOLDED_DATASETS
from dfer.training.folds import fold_output_dir, results_markdown

from .card import leave_model_card
from .run_errors import report_run_error
from .train import parse

EXAMPLE = """examples:
  dfer folds --dataset sample --data_dir sample_data --output_dir outputs/sample_folds --folds 1 2
  dfer folds --model logo_former --dataset mafw --data_dir MAFW --annotations mafw_lists --output_dir out/mafw
  accelerate launch -m dfer.cli folds --model gca_resnet --dataset dfew --data_dir DFEW --output_dir out/dfew --folds 1 2 3"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        model_args, data_args, fold_args, training_args = parse(
            argv, FoldArguments, prog="dfer folds", description=__doc__, example=EXAMPLE
        )
        if data_args.dataset not in FOLDED_DATASETS:
            raise ValueError(
                f"the fold protocol applies to DFEW and MAFW (and the sample); {data_args.dataset} has no folds."
            )
        summary = run_folds(model_args, data_args, training_args, fold_args.folds)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:
        return report_run_error("folds", error)
    is_main_process = PartialState().is_main_process
    end_distributed_run()
    if is_main_process:
        for fold in fold_args.folds:
            leave_model_card("folds", fold_output_dir(training_args.output_dir, fold))
        print(results_markdown(summary))
    return 0

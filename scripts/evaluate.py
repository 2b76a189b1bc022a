"""Evaluate a saved checkpoint (model + processor) on a dataset split; print and save WAR, UAR, per-class accuracy.

    python scripts/evaluate.py --checkpoint out/fold1 --dataset dfew --data_dir DFEW --fold 1 --output_dir out/eval
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState
from transformers import HfArgumentParser

from dfer.training.run import DataArguments, evaluate_checkpoint, summary_line, write_metrics
from dfer.training.trainer import DferTrainingArguments


@dataclass
class EvaluationArguments:
    checkpoint: str = field(metadata={"help": "checkpoint folder (or Hub repo id) with model and processor"})
    split: str = field(default="test", metadata={"help": "split to evaluate: test, train (or validation)"})


def main() -> None:
    parser = HfArgumentParser((EvaluationArguments, DataArguments, DferTrainingArguments), description=__doc__)
    parser.set_defaults(report_to=[], output_dir="evaluation")
    evaluation_args, data_args, training_args = parser.parse_args_into_dataclasses()
    record = evaluate_checkpoint(evaluation_args.checkpoint, data_args, training_args, evaluation_args.split)
    if not PartialState().is_main_process:
        return
    write_metrics(Path(training_args.output_dir), record)
    print(json.dumps(record["metrics"]["per_class_accuracy"], indent=1))
    print(f"{evaluation_args.checkpoint} on {data_args.dataset} {evaluation_args.split}: {summary_line(record)}")


if __name__ == "__main__":
    main()

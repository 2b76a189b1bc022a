"""The `dfer` command: one subcommand per job, each a thin layer over one library function.

    dfer prepare | train | evaluate | folds | predict | demo | export | push | convert  [options]   (dfer SUB --help)

Each subcommand module has `main(argv) -> exit status`, so tests call them without a subprocess. Usage errors
and bad input end with one `error:` line and exit status 2; a job that ran but failed for some inputs exits 1.
Data-parallel training: `torchrun --nproc_per_node N -m dfer.cli train ...` or
`accelerate launch --multi_gpu --num_processes N -m dfer.cli train ...`.
"""

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

# name -> (module under dfer.cli, one-line help). Modules are imported only when their command runs: `dfer
# predict` need not import the training stack, and `dfer --help` imports nothing heavy.
COMMANDS = {
    "prepare": ("prepare", "your own videos as face-cropped clips and a manifest, ready for dfer train"),
    "train": ("train", "train a model on DFEW, FERV39k, MAFW, your own videos or the sample (HfArgumentParser flags)"),
    "evaluate": ("evaluate", "evaluate a checkpoint on a dataset split: WAR, UAR, per-class accuracy"),
    "folds": ("folds", "the DFEW / MAFW 5-fold protocol: train and test every fold, then a results table"),
    "predict": ("predict", "expression timelines of your own videos (CSV, JSON, PNG)"),
    "demo": ("demo", "a web page (Gradio) to try a checkpoint on your own videos"),
    "export": ("export", "a checkpoint as ONNX (any batch size) with its preprocessing, checked in onnxruntime"),
    "push": ("push", "publish a training output folder to the Hugging Face Hub"),
    "convert": ("convert", "convert an official IAL checkpoint (.pth) to a checkpoint folder"),
}


# Commands whose work survives an interruption, and how to go on from it.
RESUME_HINTS = {
    "prepare": "Finished clips are kept: rerun the same command to go on.",
    "train": "Finished checkpoints are kept: rerun with --resume_from_checkpoint last.",
    "folds": "Finished checkpoints are kept: rerun with --resume_from_checkpoint last.",
}
# The shell's status for a process ended by SIGINT (128 + 2).
INTERRUPTED = 130


def package_version() -> str:
    try:
        return version("dfer")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: dfer [--version] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run `dfer COMMAND --help` for a command's options and an example."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"dfer {package_version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"{usage()}\n\ndfer: error: unknown command {name!r}; choose one of {', '.join(COMMANDS)}.",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
    try:
        return module.main(rest)
    except KeyboardInterrupt:
        # Ctrl-C is the user's decision, not a failure to explain with a traceback. Training keeps every
        # checkpoint it finished and never marks an interrupted folder complete.
        hint = f" {RESUME_HINTS[name]}" if name in RESUME_HINTS else ""
        print(f"dfer {name}: interrupted.{hint}", file=sys.stderr)
        return INTERRUPTED


__all__ = ["COMMANDS", "main", "package_version"]

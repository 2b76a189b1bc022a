"""The model card a training command leaves in each output folder it finishes, so that the folder carries a true
card however it is published (`dfer push` renders its own from the same data; `hf upload` sends this one)."""

from pathlib import Path

from dfer.hub import PublishError, write_model_card

from .errors import report_warning


def leave_model_card(command: str, output_dir: str | Path) -> None:
    """Write `<output_dir>/README.md`; a card that cannot be rendered is a warning, never a failed run."""
    try:
        write_model_card(output_dir)
    except (PublishError, OSError) as error:
        report_warning(command, f"no model card written in {output_dir}: {error}")

"""Where the model cards' data files are (`model_cards/`) and how they are read: the Jinja2 template, one
`<model_type>.yaml` of facts per model, and `card_text.yaml`, the prose that every card shares."""

from functools import cache
from pathlib import Path

import yaml

MODEL_CARDS_DIR = Path(__file__).resolve().parents[1] / "model_cards"
MODEL_CARD_TEMPLATE = MODEL_CARDS_DIR / "model_card.md"
CARD_TEXT = MODEL_CARDS_DIR / "card_text.yaml"


def model_facts_path(model_type: str) -> Path:
    return MODEL_CARDS_DIR / f"{model_type}.yaml"


def known_model_types() -> list[str]:
    """The model types that have a facts file, sorted."""
    return sorted(path.stem for path in MODEL_CARDS_DIR.glob("*.yaml") if path != CARD_TEXT)


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def card_text() -> dict:
    """The shared prose of `card_text.yaml` (read once)."""
    return read_yaml(CARD_TEXT)

"""The checkpoints the demo offers and the ones it has loaded: local checkpoint folders found for the model
picker, and a small cache so that switching back to a model does not load it again."""

import os
import threading
from collections import OrderedDict
from pathlib import Path

from dfer.inference import load_checkpoint

# A checkpoint folder written by save_pretrained: the model's config and the video processor's.
CHECKPOINT_FILES = ("config.json", "video_preprocessor_config.json")
# How deep below a models folder checkpoints are looked for (outputs/run/checkpoint-100 is depth 2), and how many
# folders are looked at in all, so that a models folder of many files costs nothing noticeable.
SEARCH_DEPTH = 3
SEARCH_LIMIT = 5000


def is_checkpoint_folder(path: str | os.PathLike) -> bool:
    return all((Path(path) / name).is_file() for name in CHECKPOINT_FILES)


def find_checkpoints(folder: str | os.PathLike, depth: int = SEARCH_DEPTH) -> list[str]:
    """Checkpoint folders under `folder` (itself included), sorted, hidden folders skipped."""
    root = Path(folder)
    found, visited, level = [], 0, [root]
    for _ in range(depth + 1):
        below = []
        for path in level:
            visited += 1
            if visited > SEARCH_LIMIT:
                return sorted(found)
            if is_checkpoint_folder(path):
                found.append(str(path))
            try:
                below += sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:  # a folder that cannot be listed: nothing to offer there
                continue
        level = below
    return sorted(found)


def model_choices(model: str | None, models_dir: str | os.PathLike | None) -> list[str]:
    """The model picker's list: `model` first, then the checkpoints under `models_dir` or, when `model` is a
    local folder and no models folder is given, those beside it (its parent folder's)."""
    choices = [model] if model else []
    if models_dir is None and model and is_checkpoint_folder(model):
        models_dir = Path(model).resolve().parent
    if models_dir is not None:
        for path in find_checkpoints(models_dir):
            if not (model and is_checkpoint_folder(model) and Path(path).resolve() == Path(model).resolve()):
                choices.append(path)
    return choices


class ModelCache:
    """(model, processor) by checkpoint name, loaded on first use; the `size` most recently used are kept.
    `revisions` gives the Hub revision of a name (the one `dfer demo --revision` names; others load their default
    branch), and `trusted` the names whose own model code may run (`--trust-remote-code` is about `--model`, never
    about a name typed into the page)."""

    def __init__(self, device, revisions: dict[str, str] | None = None, trusted=(), size: int = 2):
        self.device, self.revisions, self.trusted, self.size = device, revisions or {}, set(trusted), size
        self._loaded: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def get(self, name: str):
        """Raises `CheckpointLoadError` for a folder or repo id that holds no checkpoint."""
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_checkpoint(
                    name, self.device, self.revisions.get(name), name in self.trusted
                )
                while len(self._loaded) > self.size:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(name)
            return self._loaded[name]


__all__ = ["CHECKPOINT_FILES", "ModelCache", "find_checkpoints", "is_checkpoint_folder", "model_choices"]

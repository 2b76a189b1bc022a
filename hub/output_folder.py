"""Reading and checking a training output folder before it is published (its layout and the `metrics.json`
schema are defined in `dfer.training.output_folder`).

Everything is checked before any request is sent (files present, `auto_map` pointing at files that exist,
labels agreeing between config and metrics, metrics agreeing with their own confusion matrix), so a bad folder
fails with one message naming the file, and nothing is published.

What a Hub repository receives is an explicit allow-list, never "what is in the folder":
- `config.json`, the weights (`model.safetensors`, or `model.safetensors.index.json` and the shards it names,
  each a plain `*.safetensors` file name in the folder) and the video processor's configuration;
- the remote code: the modules that the config's and the processor's `auto_map` name, and the sibling modules
  they import with single-dot relative imports (transitively), which is exactly what
  `trust_remote_code=True` loading fetches; any other `*.py` in the folder stays behind;
- `metrics.json` and `run_args.json`, as publishable copies (`publishable_record`: absolute paths reduced to
  their last component, secrets dropped), `confusion_matrix.png`, and the card rendered from them;
- with `include_logs`, the TensorBoard event files under `runs/` (rewritten by `tensorboard_logs.py`).
Each of these must be a regular file inside the folder: a symbolic link (or a path through one), a name that
leaves the folder (`../`, absolute) or anything but a regular file is refused with one message naming it.
Never published: `checkpoint-*/` (optimizer and RNG pickles), `training_args.bin` (a pickle, which may hold a
`--hub_token`), the folder's own `README.md` (the card is rendered again), the run's lock and completion marker.
"""

import ast
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dfer.training.output_folder import (
    CONFIG_NAME,
    CONFUSION_MATRIX_NAME,
    LOGS_DIRNAME,
    METRICS_NAME,
    PROCESSOR_CONFIG_NAMES,
    RUN_ARGS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    InvalidEvaluationRecord,
    check_evaluation_record,
)

from .card_files import MODEL_CARDS_DIR, known_model_types

# A path-like token in a string: absolute POSIX (`/home/...`), home-relative (`~/...`) or Windows (`C:\...`),
# not part of a URL (`https://host/path`) or of a fraction (`1/255`).
_PATH_TOKEN = re.compile(r"""(?<![\w.:/\\~-])(?:~(?=[\\/])|[A-Za-z]:(?=[\\/]))?[\\/][^\s'",;)\]}\\/][^\s'",;)\]}]*""")
# Run arguments that hold secrets, whatever their value (transformers masks some, not all).
_SECRET_KEY = re.compile(r"token|password|secret|api_key", re.IGNORECASE)


class PublishError(Exception):
    """A training output folder cannot be published, or the Hub refused it; the message says what to do."""


@dataclass(frozen=True)
class TrainingOutput:
    """A checked training output folder: its parsed JSON files and the files a Hub repository receives."""

    folder: Path
    config: dict
    processor_config: dict
    metrics: dict  # the publishable `metrics.json` object, checked against its schema
    run_args: dict  # the publishable `run_args.json` object ({} when an evaluated checkpoint has none)
    checkpoint_files: tuple[str, ...]  # config, weights, processor config, remote code (folder-relative)
    confusion_matrix_image: str | None
    log_files: tuple[str, ...]  # TensorBoard event files under runs/ (folder-relative)
    reduced: tuple[str, ...] = ()  # the record files whose published copy differs from the file (paths reduced)
    left_out: tuple[str, ...] = ()  # top-level entries of the folder that are never published

    @property
    def model_type(self) -> str:
        return self.metrics["model_type"]

    @property
    def labels(self) -> list[str]:
        return list(self.metrics["labels"])

    def record_bytes(self, name: str) -> bytes:
        """What is uploaded for `metrics.json` / `run_args.json`: the file itself, or its publishable copy when
        that differs (a machine path reduced, a secret dropped)."""
        if name not in self.reduced:
            return (self.folder / name).read_bytes()
        value = self.metrics if name == METRICS_NAME else self.run_args
        return (json.dumps(value, indent=2) + "\n").encode("utf-8")


def read_training_output(output_dir: str | os.PathLike) -> TrainingOutput:
    """Read and check a training output folder; raise `PublishError` naming the first problem found."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder: pass the training run's output directory.")
    config = _read_json(
        folder, CONFIG_NAME, "the checkpoint's configuration (save the model with `save_pretrained`)"
    )
    raw_metrics = _read_json(folder, METRICS_NAME, "the evaluation metrics written at the end of training")
    processor_name = next((name for name in PROCESSOR_CONFIG_NAMES if (folder / name).is_file()), None)
    if processor_name is None:
        raise PublishError(
            f"{folder} has no video processor ({' or '.join(PROCESSOR_CONFIG_NAMES)}): save the processor "
            "with `save_pretrained` next to the model so that `pipeline` can read videos."
        )
    processor_config = _read_json(folder, processor_name, "the video processor's configuration")
    for name, value in ((CONFIG_NAME, config), (processor_name, processor_config)):
        if not isinstance(value, dict):
            raise PublishError(
                f"{folder / name} must hold a JSON object; save it again with `save_pretrained`."
            )

    metrics = publishable_record(raw_metrics) if isinstance(raw_metrics, dict) else raw_metrics
    _check_metrics(metrics, folder / METRICS_NAME)
    evaluated = metrics.get("checkpoint") is not None  # written by `dfer evaluate`, not by a training run
    if evaluated and not (folder / RUN_ARGS_NAME).exists():
        raw_run_args = None  # an evaluated checkpoint (e.g. a converted official one) may have no run record
    else:
        raw_run_args = _read_json(folder, RUN_ARGS_NAME, "the arguments of the training run")
        if not isinstance(raw_run_args, dict) or not raw_run_args:
            raise PublishError(
                f"{folder / RUN_ARGS_NAME} must hold a non-empty JSON object of the run's arguments."
            )
    run_args = publishable_record(raw_run_args) if raw_run_args is not None else {}
    _check_config(config, metrics, folder)
    for name, value in ((CONFIG_NAME, config), (processor_name, processor_config)):
        _refuse_machine_paths(value, folder / name)
    code_files = _remote_code_files(config, processor_config, processor_name, folder)
    weight_files = _weight_files(folder)

    image = CONFUSION_MATRIX_NAME if (folder / CONFUSION_MATRIX_NAME).exists() else None
    log_files = _log_files(folder)
    checkpoint_files = (CONFIG_NAME, *weight_files, processor_name, *code_files)
    records = (METRICS_NAME,) + ((RUN_ARGS_NAME,) if raw_run_args is not None else ())
    for name in (*checkpoint_files, *records, *((image,) if image else ())):
        check_regular_file(folder, name)
    reduced = tuple(
        name
        for name, raw, published in ((METRICS_NAME, raw_metrics, metrics), (RUN_ARGS_NAME, raw_run_args, run_args))
        if raw is not None and raw != published
    )
    published_top = {PurePosixPath(name).parts[0] for name in (*checkpoint_files, *records)}
    published_top |= {image, LOGS_DIRNAME}  # logs: only when asked for (see `upload_operations`)
    left_out = tuple(sorted(path.name for path in folder.iterdir() if path.name not in published_top))
    return TrainingOutput(
        folder,
        config,
        processor_config,
        metrics,
        run_args,
        checkpoint_files,
        image,
        log_files,
        reduced,
        left_out,
    )


def check_regular_file(folder: Path, name: str) -> Path:
    """`folder / name` if it is a regular file inside `folder` reached through no symbolic link; otherwise
    `PublishError` naming it. `name` is folder-relative, with `/` separators."""
    parts = PurePosixPath(name).parts
    if (
        not name
        or "\\" in name
        or "\0" in name
        or PurePosixPath(name).is_absolute()
        or re.match(r"^[A-Za-z]:", name)
        or any(part in ("..", ".", "") for part in parts)
    ):
        raise PublishError(
            f"{name!r} is not a file name inside {folder}: only files inside the output folder are published."
        )
    path = folder
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            raise PublishError(f"{path} is missing.") from None
        if stat.S_ISLNK(mode):
            raise PublishError(
                f"{path} is a symbolic link (to {os.readlink(path)}): only regular files inside {folder} are "
                "published. Replace the link with a copy of the file."
            )
        if i < len(parts) - 1 and not stat.S_ISDIR(mode):
            raise PublishError(f"{path} is not a folder, so {folder / name} cannot exist.")
    if not stat.S_ISREG(mode):
        raise PublishError(f"{path} is not a regular file: only regular files are published.")
    if not path.resolve().is_relative_to(folder.resolve()):  # e.g. a hard-to-see mount trick
        raise PublishError(f"{path} lies outside {folder}: only files inside the output folder are published.")
    return path


def publishable_record(value):
    """A copy of a JSON record (`metrics.json`, `run_args.json`) fit to publish: every machine path in a string
    reduced to its last component (`/home/alice/data/DFEW` -> `DFEW`, `~/runs/a` -> `a`), and entries whose name
    says they hold a secret (`hub_token`, ...) dropped."""
    if isinstance(value, dict):
        return {
            key: publishable_record(item)
            for key, item in value.items()
            if not (isinstance(key, str) and _SECRET_KEY.search(key))
        }
    if isinstance(value, list):
        return [publishable_record(item) for item in value]
    if isinstance(value, str):
        return _PATH_TOKEN.sub(lambda match: re.split(r"[\\/]", match.group(0).rstrip("\\/"))[-1], value)
    return value


def machine_paths(value) -> list[str]:
    """The machine paths (absolute, `~/...` or Windows) found in the strings of a JSON value."""
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in machine_paths(key) + machine_paths(item)]
    if isinstance(value, list):
        return [path for item in value for path in machine_paths(item)]
    if isinstance(value, str):
        return _PATH_TOKEN.findall(value)
    return []


def _refuse_machine_paths(value: dict, path: Path) -> None:
    found = machine_paths(value)
    if found:
        raise PublishError(
            f"{path} records the machine path {found[0]!r}: a published checkpoint must not carry this machine's "
            "paths. Remove it (or save the checkpoint again without it) and retry."
        )


def _read_json(folder: Path, name: str, what: str):
    path = folder / name
    if not path.exists() and not path.is_symlink():
        raise PublishError(f"{path} is missing: it should hold {what}.")
    check_regular_file(folder, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PublishError(
            f"{path} is not valid JSON ({error}); write it again from the training run."
        ) from error


def _check_metrics(metrics: dict, path: Path) -> None:
    try:
        check_evaluation_record(metrics)
    except InvalidEvaluationRecord as error:
        raise PublishError(f"{path}: {error}") from error


def _check_config(config: dict, metrics: dict, folder: Path) -> None:
    path = folder / CONFIG_NAME
    if config.get("model_type") != metrics["model_type"]:
        raise PublishError(
            f"{path} is a {config.get('model_type')!r} model but {folder / METRICS_NAME} reports "
            f"{metrics['model_type']!r}: the metrics belong to another run."
        )
    known = known_model_types()
    if metrics["model_type"] not in known:
        raise PublishError(
            f"No model card facts for model_type {metrics['model_type']!r} in {MODEL_CARDS_DIR} "
            f"(known: {', '.join(known)})."
        )
    id2label = config.get("id2label") or {}
    config_labels = [id2label.get(str(i)) for i in range(len(id2label))]
    if config_labels != metrics["labels"]:
        raise PublishError(
            f"{path} has labels {config_labels} but {folder / METRICS_NAME} has {metrics['labels']}: "
            "they must be the same classes in the same order."
        )
    if "num_frames" not in config:
        raise PublishError(f"{path} has no `num_frames`; the video-classification pipeline needs it.")


# The Auto classes whose `auto_map` entry remote loading needs, per file.
_REQUIRED_AUTO_CLASSES = {"config": ("AutoConfig", "AutoModelForVideoClassification"), "processor": ("AutoVideoProcessor",)}


def _remote_code_files(
    config: dict, processor_config: dict, processor_name: str, folder: Path
) -> tuple[str, ...]:
    """The remote-code files to publish: the modules every `auto_map` entry names (the required ones must be
    there) and, transitively, the sibling modules they import with single-dot relative imports."""
    modules: dict[str, str] = {}  # module -> what needs it (for messages)
    for kind, filename, values in (("config", CONFIG_NAME, config), ("processor", processor_name, processor_config)):
        auto_map = values.get("auto_map") or {}
        if not isinstance(auto_map, dict):
            raise PublishError(f"{folder / filename} has an auto_map that is not a JSON object.")
        for auto_class in _REQUIRED_AUTO_CLASSES[kind]:
            if not _auto_map_references(auto_map.get(auto_class)):
                raise PublishError(
                    f"{folder / filename} has no auto_map entry for {auto_class}, so the checkpoint would not load "
                    "with trust_remote_code=True: save it after `import dfer.modeling` (which registers the classes)."
                )
        for auto_class, entry in sorted(auto_map.items()):
            for reference in _auto_map_references(entry):
                if "--" in reference:
                    raise PublishError(
                        f"{folder / filename} maps {auto_class} to {reference}, code in another repository: "
                        "a published checkpoint carries its own code (save it after `import dfer.modeling`)."
                    )
                module = reference.rsplit(".", 1)[0]
                if not module.isidentifier():
                    raise PublishError(
                        f"{folder / filename} maps {auto_class} to {reference!r}, which is not a module.Class "
                        "name of a file next to the config."
                    )
                if not (folder / f"{module}.py").exists() and not (folder / f"{module}.py").is_symlink():
                    raise PublishError(
                        f"{folder / filename} maps {auto_class} to {reference}, but {folder / (module + '.py')} is missing."
                    )
                modules.setdefault(module, f"{folder / filename} ({auto_class})")
    pending = sorted(modules)
    while pending:
        module = pending.pop()
        for sibling in _sibling_imports(folder, module):
            if sibling not in modules:
                if not (folder / f"{sibling}.py").exists():
                    raise PublishError(
                        f"{folder / (module + '.py')} imports .{sibling}, but {folder / (sibling + '.py')} is "
                        "missing: the checkpoint would not load with trust_remote_code=True."
                    )
                modules[sibling] = f"{folder / (module + '.py')}"
                pending.append(sibling)
    return tuple(sorted(f"{module}.py" for module in modules))


def _auto_map_references(entry) -> list[str]:
    if isinstance(entry, str):
        return [entry] if entry else []
    if isinstance(entry, list):  # processors may map to (slow, fast) pairs
        return [item for item in entry if isinstance(item, str) and item]
    return []


def _sibling_imports(folder: Path, module: str) -> list[str]:
    """The modules `module.py` imports from its own folder (`from .x import y`, `from . import x`)."""
    path = check_regular_file(folder, f"{module}.py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        raise PublishError(f"{path} is not valid Python ({error}): it cannot be published as remote code.") from error
    siblings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > 1:
                raise PublishError(
                    f"{path} imports from {'.' * node.level}{node.module or ''}, outside its own folder: remote code "
                    "can only import its sibling files."
                )
            names = [node.module] if node.module else [alias.name for alias in node.names]
            for name in names:
                if "." in name:
                    raise PublishError(
                        f"{path} imports .{name}, a sub-package: remote code can only import sibling files."
                    )
                siblings.append(name)
    return siblings


def _weight_files(folder: Path) -> tuple[str, ...]:
    if (folder / WEIGHTS_NAME).exists() or (folder / WEIGHTS_NAME).is_symlink():
        return (WEIGHTS_NAME,)
    index = folder / WEIGHTS_INDEX_NAME
    if index.exists() or index.is_symlink():
        weight_map = _read_json(folder, WEIGHTS_INDEX_NAME, "the safetensors shard index")
        weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
        if not isinstance(weight_map, dict) or not all(isinstance(name, str) for name in weight_map.values()):
            raise PublishError(f"{index} has no weight_map of tensor names to shard file names.")
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            if not re.fullmatch(r"[\w.-]+\.safetensors", shard) or shard.startswith("."):
                raise PublishError(
                    f"{index} names the shard {shard!r}, which is not a safetensors file name in {folder}: shards "
                    "must be plain file names next to the index (as `save_pretrained` writes them)."
                )
        missing = [shard for shard in shards if not (folder / shard).exists() and not (folder / shard).is_symlink()]
        if not shards or missing:
            raise PublishError(
                f"{index} lists shards that are missing: {', '.join(missing) or 'none listed'}."
            )
        return (WEIGHTS_INDEX_NAME, *shards)
    raise PublishError(
        f"{folder} has no {WEIGHTS_NAME}: save the final model with `save_pretrained` (pickle weights such as "
        "pytorch_model.bin are never published)."
    )


def _log_files(folder: Path) -> tuple[str, ...]:
    """The TensorBoard event files under `runs/` (folder-relative), found without following links; a link or
    anything but a regular file among them is refused when logs are published (`check_regular_file`)."""
    logs = folder / LOGS_DIRNAME
    if logs.is_symlink():
        return (LOGS_DIRNAME,)  # refused by name if the logs are asked for
    if not logs.is_dir():
        return ()
    found = []
    for root, dirs, files in os.walk(logs, followlinks=False):
        for name in files + [name for name in dirs if (Path(root) / name).is_symlink()]:
            if "tfevents" in name:
                found.append((Path(root) / name).relative_to(folder).as_posix())
    return tuple(sorted(found))


__all__ = [
    "PublishError",
    "TrainingOutput",
    "check_regular_file",
    "machine_paths",
    "publishable_record",
    "read_training_output",
]

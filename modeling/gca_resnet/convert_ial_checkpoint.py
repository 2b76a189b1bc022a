"""Convert an official IAL checkpoint (muse1998/IAL-for-Facial-Expression-Recognition, a `GenerateModel` state
dict) into a `GcaResNetForVideoClassification` checkpoint folder.

Accepted inputs: the plain state dict, the same with the `module.` prefix of `nn.DataParallel`, or a dict that
holds either under `state_dict`. The official network keeps 146,752 parameters it never uses (per-block
`bias1`/`bias2`/`glb`, a stem `bias`, a GCA head built but skipped in layer1); they are dropped and counted.
Any other unknown or missing key is an error, so a checkpoint from a different network cannot convert silently.
"""

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .configuration_gca_resnet import GcaResNetConfig
from .modeling_gca_resnet import GcaResNetForVideoClassification

# Official tensors with no counterpart in the computation.
UNUSED_OFFICIAL_KEYS = re.compile(
    r"^s_former\.(bias|layer\d+\.\d+\.(bias1|bias2|glb\.weight)|layer1\.0\.(gc\.0|fc1\.0|fc2\.0|AUX_fc\.[01])\.weight)$"
)

_TRANSFORMER_RULES = [
    (r"layers\.(\d+)\.0\.fn\.norm\.", r"layers.\1.attention_norm."),
    (r"layers\.(\d+)\.0\.fn\.fn\.to_qkv\.", r"layers.\1.attention.qkv."),
    (r"layers\.(\d+)\.0\.fn\.fn\.to_out\.0\.", r"layers.\1.attention.output."),
    (r"layers\.(\d+)\.1\.fn\.norm\.", r"layers.\1.mlp_norm."),
    (r"layers\.(\d+)\.1\.fn\.fn\.net\.0\.", r"layers.\1.mlp.fc1."),
    (r"layers\.(\d+)\.1\.fn\.fn\.net\.3\.", r"layers.\1.mlp.fc2."),
]

_BLOCK_RULES = [
    (r"\.conv1\.", ".conv1.convolution."),
    (r"\.conv2\.", ".conv2.convolution."),
    (r"\.bn1\.", ".conv1.normalization."),
    (r"\.bn2\.", ".conv2.normalization."),
    (r"\.downsample\.0\.", ".shortcut.convolution."),
    (r"\.downsample\.1\.", ".shortcut.normalization."),
    (r"\.gc\.0\.", ".gca.global_conv."),
    (r"\.fc1\.0\.", ".gca.excitation_reduce."),
    (r"\.fc2\.0\.", ".gca.excitation_expand."),
]


@dataclass
class ConversionResult:
    state_dict: dict[str, torch.Tensor]
    dropped_keys: list[str]
    dropped_parameters: int


def _official_to_ours(key: str, gca_block_of_stage: dict[int, int]) -> str:
    """Name of the tensor in `GcaResNetForVideoClassification` for one official key (no validation)."""
    encoder = "gca_resnet.spatial_encoder."
    fusion = "gca_resnet.dynamic_static_fusion."
    simple = {
        "s_former.pos_embedding": "gca_resnet.temporal_position_embeddings",
        "s_former.pos_embedding_pos": fusion + "static_position_embeddings",
    }
    if key in simple:
        return simple[key]
    if key.startswith("fc_f."):
        return "classifier." + key[len("fc_f.") :]
    for pattern, target in [
        (r"^s_former\.conv1\.0\.", encoder + "stem.conv1.convolution."),
        (r"^s_former\.conv1\.1\.", encoder + "stem.conv1.normalization."),
        (r"^s_former\.conv1\.3\.", encoder + "stem.conv2.convolution."),
        (r"^s_former\.bn1\.", encoder + "stem.conv2.normalization."),
        (r"^s_former\.patch_embedding\.0\.", fusion + "static_embedding.convolution."),
        (r"^s_former\.patch_embedding\.1\.", fusion + "static_embedding.normalization."),
    ]:
        if re.match(pattern, key):
            return re.sub(pattern, target, key)
    for prefix, target in [
        ("s_former.pos_transformer.", fusion + "static_transformer."),
        ("s_former.temporal_transformer.", "gca_resnet.temporal_transformer."),
    ]:
        if key.startswith(prefix):
            renamed = target + key[len(prefix) :]
            for pattern, replacement in _TRANSFORMER_RULES:
                renamed = re.sub(pattern, replacement, renamed)
            return renamed
    match = re.match(r"^s_former\.layer(\d)\.(\d+)\.(.*)$", key)
    if match:
        stage, block, rest = int(match[1]), int(match[2]), "." + match[3]
        aux = re.match(r"^\.AUX_fc\.([01])\.(.*)$", rest)
        if aux:
            part = "projection" if aux[1] == "0" else "classifier"
            return f"auxiliary_classifiers.{gca_block_of_stage.get(stage, -1)}.{part}.{aux[2]}"
        for pattern, replacement in _BLOCK_RULES:
            rest = re.sub(pattern, replacement, rest)
        if stage == 4:  # official layer4 = the dynamic branch of the fusion module
            return f"{fusion}dynamic_blocks.{block}{rest}"
        return f"{encoder}blocks.{stage - 1}{rest}"
    return key


def _state_dict_keys(config: GcaResNetConfig) -> set[str]:
    # Built on the meta device: only the names are needed, not the 19M initialised weights.
    with torch.device("meta"):
        return set(GcaResNetForVideoClassification(config).state_dict())


def unwrap_official_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The `GenerateModel` state dict inside an official checkpoint, without any `module.` prefix."""
    if "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], dict):
        checkpoint = checkpoint["state_dict"]
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}


def convert_ial_state_dict(official: dict, config: GcaResNetConfig | None = None) -> ConversionResult:
    """Rename an official IAL state dict to this package's names; raise `KeyError` on any mismatch."""
    config = config or GcaResNetConfig()
    official = unwrap_official_state_dict(official)
    # Official stage index (layer1..3) of each GCA block -> index of its auxiliary classifier.
    gca_stages = [index + 1 for index, use_gca in enumerate(config.gca_stages) if use_gca]
    gca_block_of_stage = {stage: position for position, stage in enumerate(gca_stages)}

    expected = _state_dict_keys(config)
    converted, dropped, unexpected = {}, [], []
    for key, tensor in official.items():
        target = _official_to_ours(key, gca_block_of_stage)
        if target in expected:
            converted[target] = tensor
        elif UNUSED_OFFICIAL_KEYS.match(key):
            dropped.append(key)
        else:
            unexpected.append(key)
    missing = sorted(expected - converted.keys())
    if unexpected or missing:
        raise KeyError(
            "This is not an official IAL (GenerateModel) checkpoint for the given configuration: "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}, {len(missing)} missing key(s) {missing[:5]}. "
            "Pass the `.pth` file written by the official main.py (optionally under `state_dict`)."
        )
    dropped_parameters = sum(official[key].numel() for key in dropped)
    return ConversionResult(converted, dropped, dropped_parameters)


def convert_ial_checkpoint(
    checkpoint_path: str | Path, output_dir: str | Path, config: GcaResNetConfig | None = None
) -> ConversionResult:
    """Read an official `.pth` safely (`weights_only=True`), convert it and save a checkpoint folder.

    Raises `FileNotFoundError` for a missing file, `KeyError` for a state dict of another network, and
    `ValueError` naming the file for everything else that is wrong with the input (a pickle of arbitrary objects,
    which `weights_only` refuses; a file that is no checkpoint at all; an unreadable file) or the output (a file
    where the folder should be), all before anything is written."""
    checkpoint_path, output_dir = Path(checkpoint_path), Path(output_dir)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"Official IAL checkpoint not found: {checkpoint_path}")
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"The output {output_dir} is a file; pass a folder (it is created when missing).")
    try:
        official = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{checkpoint_path} holds more than tensors (refused by torch.load(weights_only=True), which never runs "
            "a checkpoint's code); pass the official network's state dict."
        ) from error
    except PermissionError as error:
        raise ValueError(f"Cannot read {checkpoint_path}: permission denied.") from error
    except Exception as error:  # noqa: BLE001
        # Whatever bytes that are no checkpoint make torch.load raise: RuntimeError (a truncated zip), EOFError (an
        # empty file), KeyError (a bad pickle magic), IndexError / struct.error from the weights-only unpickler...
        first_line = (str(error).strip().splitlines() or [""])[0]
        reason = "the file is empty" if checkpoint_path.stat().st_size == 0 else f"{type(error).__name__}: {first_line}"
        raise ValueError(
            f"{checkpoint_path} is not a PyTorch checkpoint that can be read ({reason}); pass the official `.pth`."
        ) from error
    if not isinstance(official, dict):
        raise ValueError(f"{checkpoint_path} does not hold a state dict (found {type(official).__name__}).")
    config = config or GcaResNetConfig()
    result = convert_ial_state_dict(official, config)
    model = GcaResNetForVideoClassification(config)
    dtype = next(iter(result.state_dict.values())).dtype
    model.to(dtype if dtype.is_floating_point else torch.float32)
    model.load_state_dict(result.state_dict, strict=True)
    model.eval()
    model.save_pretrained(output_dir)
    return result

"""The training output folder is checked before anything is sent, and the model card is rendered from its data."""

import json
import re
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from PIL import Image
from tiny_models import tiny_gca_resnet_config, tiny_logo_former_config
from torch.utils.tensorboard import SummaryWriter

from dfer.hub import PublishError, build_model_card, check_license, read_training_output, write_model_card
from dfer.hub import model_card as model_card_module
from dfer.hub.card_files import card_text, known_model_types
from dfer.hub.model_card import model_card_facts
from dfer.modeling import GcaResNetForVideoClassification, LogoFormerForVideoClassification
from dfer.processing import SAMPLERS, DferVideoProcessor
from dfer.training.arguments import DATASETS, MODEL_SELECTIONS
from dfer.training.objectives import OBJECTIVES

LABELS = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
# A plausible test fold in miniature: rows are true classes, columns predictions; Disgust is never recognised.
CONFUSION = [
    [30, 2, 3, 1, 1, 0, 1],
    [2, 20, 5, 1, 0, 0, 2],
    [3, 4, 25, 2, 1, 0, 1],
    [1, 1, 2, 22, 2, 0, 0],
    [1, 0, 1, 2, 15, 0, 1],
    [0, 1, 1, 1, 0, 0, 0],
    [1, 2, 1, 0, 3, 0, 5],
]
RUN_ARGS = {
    "model": "gca_resnet",
    "recipe": "ial",
    "dataset": "dfew",
    "fold": 1,
    "sampler": "segment",
    "num_frames": 4,
    "image_size": 32,
    "augmentation": "ial",
    "objective": "ial",
    "ial_weight": 0.1,
    "auxiliary_weights": [0.05, 0.0],
    "optim": "sgd",
    "learning_rate": 0.001,
    "weight_decay": 0.1,
    "lr_scheduler_type": "constant",
    "lr_step_epochs": 7,
    "lr_step_gamma": 0.5,
    "num_train_epochs": 100,
    "per_device_train_batch_size": 40,
    "model_selection": "validation",
    "seed": 42,
    "label_smoothing_factor": 0.0,
}


def metrics_from_confusion(matrix: list[list[int]], labels: list[str]) -> dict:
    """WAR, UAR and per-class accuracy as the training run computes them from a confusion matrix."""
    support = [sum(row) for row in matrix]
    recalls = {label: matrix[i][i] / support[i] if support[i] else None for i, label in enumerate(labels)}
    present = [value for value in recalls.values() if value is not None]
    return {
        "war": sum(matrix[i][i] for i in range(len(labels))) / sum(support),
        "uar": sum(present) / len(present),
        "per_class_accuracy": recalls,
        "confusion_matrix": matrix,
        "num_clips": sum(support),
    }


# The host name the fixture's TensorBoard logs were "written on" (distinctive, so that a search for it in published
# bytes cannot match by chance).
TRAINING_HOST = "trainhost-7f3a"


def write_tensorboard_logs(folder: Path, host: str = TRAINING_HOST) -> Path:
    """TensorBoard logs as the Trainer's callback writes them, with torch's SummaryWriter: in
    `runs/<date>_<host>/events.out.tfevents.<time>.<host>.<pid>.<n>`, a text summary of the run's arguments (this
    machine's absolute paths, the host name), training scalars and `add_hparams` (which adds a sub-run)."""
    log_dir = folder / "runs" / f"Jan01_00-00-00_{host}"
    with mock.patch("socket.gethostname", return_value=host):
        writer = SummaryWriter(log_dir=str(log_dir))
        writer.add_text("args", json.dumps({"output_dir": str(folder.absolute()), "logging_dir": str(log_dir)}))
        for step in (1, 2, 3):
            writer.add_scalar("train/loss", 2.0 / step, step)
        writer.add_hparams({"learning_rate": 0.001, "output_dir": str(folder.absolute())}, {"hparam/war": 0.7})
        writer.close()
    return log_dir


TINY_MODELS = {
    "gca_resnet": (tiny_gca_resnet_config, GcaResNetForVideoClassification, "ial"),
    "logo_former": (tiny_logo_former_config, LogoFormerForVideoClassification, "compact"),
}


def write_training_output(
    folder: Path,
    *,
    model: str = "gca_resnet",
    dataset: str = "dfew",
    fold: int | None = 1,
    model_selection: str = "validation",
    confusion: list[list[int]] = CONFUSION,
    with_image: bool = True,
    with_logs: bool = False,
    seed: int = 0,
) -> dict:
    """A training output folder as the training script writes it, for a tiny model; returns metrics.json."""
    make_config, model_class, objective = TINY_MODELS[model]
    torch.manual_seed(seed)
    config = make_config(
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}
    )
    # `import dfer.modeling` registered the classes, so the folder carries auto_map + the remote code.
    model_class(config).eval().save_pretrained(folder)
    # LOGO-Former's tiny config has an odd frame count, which the segment-pairs sampler cannot split.
    sampler = "segment" if model == "gca_resnet" else "uniform"
    DferVideoProcessor(
        size=config.image_size,
        num_frames=config.num_frames,
        sampler=sampler,
        augmentation="ial" if model == "gca_resnet" else "logo_former",
    ).save_pretrained(folder)
    record = {
        "model_type": model,
        "objective": objective,
        "dataset": dataset,
        "fold": fold,
        "eval_split": "test",
        "model_selection": model_selection,
        "labels": LABELS,
        "metrics": metrics_from_confusion(confusion, LABELS),
        "train_runtime_s": 12.5,
    }
    (folder / "metrics.json").write_text(json.dumps(record, indent=2))
    run_args = {
        **RUN_ARGS,
        "model": model,
        "dataset": dataset,
        "fold": fold,
        "model_selection": model_selection,
    }
    if objective == "compact":
        run_args |= {
            "objective": "compact",
            "compact_lambda": 0.01,
            "sampler": sampler,
            "num_frames": config.num_frames,
        }
    (folder / "run_args.json").write_text(json.dumps(run_args, indent=2))
    if with_image:
        Image.new("RGB", (70, 70), (200, 30, 30)).save(folder / "confusion_matrix.png")
    if with_logs:
        write_tensorboard_logs(folder)
    # Leftovers of training that must never be published.
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"\x80\x04pickle")
    (folder / "training_args.bin").write_bytes(b"\x80\x04pickle")
    return record


@pytest.fixture(scope="module")
def training_output(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    write_training_output(folder)
    return folder


def markdown_table(text: str, header: str) -> list[list[str]]:
    """Rows (cells stripped) of the first Markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_model_index_carries_war_and_uar_of_the_run(training_output):
    record = json.loads((training_output / "metrics.json").read_text())
    card = ModelCard(
        str(build_model_card(training_output, repo_id="alice/gca-resnet-dfew", revision="fold-1"))
    )

    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "video-classification"
    assert card.data.model_name == "gca-resnet-dfew"
    results = {result.metric_type: result for result in card.data.eval_results}
    assert set(results) == {"accuracy", "recall"}
    assert results["accuracy"].metric_value == pytest.approx(record["metrics"]["war"], abs=1e-12)
    assert results["recall"].metric_value == pytest.approx(record["metrics"]["uar"], abs=1e-12)
    assert results["recall"].metric_args == {"average": "macro"}
    for result in results.values():
        assert (result.task_type, result.dataset_type) == ("video-classification", "dfew")
        assert (result.dataset_config, result.dataset_split) == ("fold_1", "test")
        assert result.dataset_name == "DFEW (fold 1)"
    # The YAML header is what the Hub indexes: check it directly too.
    header = yaml.safe_load(str(card).split("---")[1])
    metrics = header["model-index"][0]["results"][0]["metrics"]
    assert [metric["type"] for metric in metrics] == ["accuracy", "recall"]


def test_card_tables_come_from_the_metrics(training_output):
    record = json.loads((training_output / "metrics.json").read_text())
    text = str(build_model_card(training_output, repo_id="alice/gca-resnet-dfew"))

    summary = {row[0]: row for row in markdown_table(text, "Metric")}
    assert summary["WAR"][1] == f"{100 * record['metrics']['war']:.2f}"
    assert summary["UAR"][1] == f"{100 * record['metrics']['uar']:.2f}"
    assert summary["WAR"][2].startswith("69.24") and summary["UAR"][2].startswith("55.71")  # the paper's DFEW

    per_class = markdown_table(text, "Class")
    assert [row[0] for row in per_class] == LABELS
    for row, matrix_row, label in zip(per_class, CONFUSION, LABELS):
        assert int(row[1]) == sum(matrix_row)
        assert row[2] == f"{100 * record['metrics']['per_class_accuracy'][label]:.2f}"
    assert "Classes recognised in fewer than 20% of their clips: **Disgust**" in text

    confusion = markdown_table(text, "true \\ predicted")
    assert [[int(count) for count in row[1:]] for row in confusion] == CONFUSION
    assert "![Confusion matrix on the test split](confusion_matrix.png)" in text


def test_card_states_the_exact_recipe_and_preprocessing(training_output):
    text = str(build_model_card(training_output, repo_id="alice/gca-resnet-dfew"))
    run_args = json.loads((training_output / "run_args.json").read_text())
    full_recipe = dict(markdown_table(text[text.index("Every argument of the training run") :], "Argument"))
    assert full_recipe == {
        f"`{name}`": f"`{json.dumps(value) if not isinstance(value, str) else value}`"
        for name, value in run_args.items()
    }
    assert "`CE + 0.1 * IAL + 0.05 * CE(aux layer2) + 0 * CE(aux layer3)`" in text
    assert "4 frames per clip, chosen by the segment sampler (IAL)" in text
    assert "each frame resized to 32x32 pixels" in text and "no mean/std normalisation" in text
    assert "the epoch that scored best on a validation split held out from the training data" in text
    assert "These numbers are optimistic" not in text


def test_card_usage_ethics_and_citation(training_output):
    text = str(build_model_card(training_output, repo_id="alice/gca-resnet-dfew", revision="fold-1"))
    snippets = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(snippets) == 3
    remote, auto, local = snippets
    assert (
        'pipeline("video-classification", model="alice/gca-resnet-dfew", revision="fold-1", trust_remote_code=True)'
        in remote
    )
    assert auto.count('revision="fold-1", trust_remote_code=True') == 2
    assert "import dfer.modeling" in local and "trust_remote_code" not in local
    for snippet in snippets:
        compile(snippet, "<card snippet>", "exec")
    for section in ("## Intended use", "## Limitations", "## Ethical considerations", "## Citation"):
        assert section in text
    assert "Out of scope: any decision about a person" in text
    assert "no evaluation by age, gender, skin tone or culture" in text
    bibtex = re.search(r"```bibtex\n(.*?)```", text, flags=re.S).group(1)
    assert bibtex.startswith("@inproceedings{li2023intensity,") and bibtex.count("{") == bibtex.count("}")
    assert "Intensity-Aware Loss for Dynamic Facial Expression Recognition in the Wild" in bibtex
    assert "2208.10335" in bibtex and "AAAI" in bibtex


def test_main_branch_snippets_have_no_revision(training_output):
    text = str(build_model_card(training_output, repo_id="alice/gca-resnet-dfew", revision="main"))
    assert "revision=" not in text


def test_selection_on_the_test_fold_is_flagged(tmp_path):
    write_training_output(tmp_path, model_selection="best_test_epoch", with_image=False)
    text = str(build_model_card(tmp_path, repo_id="alice/m"))
    assert "These numbers are optimistic" in text and "scored best on the test split itself" in text
    assert "confusion_matrix.png" not in text  # no image in the folder: the table alone


def test_sample_runs_are_labelled_as_smoke_tests(tmp_path):
    write_training_output(tmp_path, dataset="sample", fold=1, with_image=False)
    card = build_model_card(tmp_path, repo_id="alice/m")
    assert "Smoke-test checkpoint" in str(card)
    assert card.data.eval_results[0].dataset_type == "sample"


def test_logo_former_card_says_what_is_reconstructed(tmp_path):
    write_training_output(tmp_path, model="logo_former", with_image=False)
    text = str(build_model_card(tmp_path, repo_id="alice/logo-former-dfew"))
    reconstructed = text[text.index("### What is reconstructed") :]
    assert "This is a reconstruction, not the authors' model." in reconstructed
    assert "No official implementation of LOGO-Former is public" in reconstructed
    assert "MS-Celeb-1M" in reconstructed and "lambda is not published" in reconstructed
    assert "`CE + 0.01 * L_compact`" in text
    key_settings = dict(markdown_table(text[text.index("The main settings of the run") :], "Argument"))
    assert key_settings["`compact_lambda`"] == "`0.01`" and "`ial_weight`" not in key_settings
    assert "54.21" in text and "66.98" in text  # the paper's DFEW UAR / WAR
    bibtex = re.search(r"```bibtex\n(.*?)```", text, flags=re.S).group(1)
    assert "ICASSP" in bibtex and "2305.03343" in bibtex and "Ma, F. and Sun, B. and Li, S." in bibtex



def test_a_class_without_test_clips_is_left_out_of_uar(tmp_path):
    confusion = [row[:] for row in CONFUSION]
    confusion[5] = [0] * 7  # no Disgust clip in this split: its accuracy is null
    record = write_training_output(tmp_path, confusion=confusion, with_image=False)
    assert record["metrics"]["per_class_accuracy"]["Disgust"] is None
    text = str(build_model_card(tmp_path, repo_id="alice/m"))
    disgust = next(row for row in markdown_table(text, "Class") if row[0] == "Disgust")
    assert disgust[1:3] == ["0", "– (no clips)"]


# Every name a training run can record has its words in model_cards/card_text.yaml.
@pytest.mark.parametrize(
    ("section", "name"),
    [("model_selections", name) for name in MODEL_SELECTIONS]
    + [("datasets", name) for name in DATASETS]
    + [("samplers", name) for name in SAMPLERS]
    + [("objectives", name) for name in OBJECTIVES],
)
def test_every_recorded_name_has_card_text(section, name):
    assert name in card_text()[section], f"model_cards/card_text.yaml has no {section} entry for {name!r}"


def test_card_text_describes_only_known_names():
    assert set(card_text()["model_selections"]) == set(MODEL_SELECTIONS)
    assert set(card_text()["datasets"]) == set(DATASETS)


def test_released_loss_weights_are_rendered_from_the_objectives(training_output, monkeypatch):
    assert known_model_types() == ["gca_resnet", "logo_former"]
    for model_type in known_model_types():
        facts = model_card_facts(model_type)
        assert "{" not in facts["description"] + facts["reconstruction"], model_type
    reconstruction = model_card_facts("logo_former")["reconstruction"]
    assert "(delta = 1)" in reconstruction and "(default 0.01)" in reconstruction

    monkeypatch.setattr(model_card_module, "COMPACT_LAMBDA", 0.02)
    assert "lambda is not published (default 0.02)" in model_card_facts("logo_former")["reconstruction"]
    monkeypatch.setattr(model_card_module, "IAL_WEIGHT", 0.3)
    text = str(build_model_card(training_output, repo_id="alice/m"))
    assert "The released objective is `CE + 0.3 * IAL + 0.05 * CE(aux layer2) + 0 * CE(aux layer3)`." in text
    # This run trained with 0.1, which is no longer the released weight.
    assert "(the released one is `CE + 0.3 * IAL + 0.05 * CE(aux layer2) + 0 * CE(aux layer3)`)" in text


# --- The card tells the truth about this checkpoint --------------------------------------------------------------


@pytest.mark.parametrize("model", ["gca_resnet", "logo_former"])
def test_card_states_this_checkpoints_own_parameter_count_and_input(tmp_path, model):
    write_training_output(tmp_path, model=model, with_image=False)
    model_class = TINY_MODELS[model][1]
    loaded = model_class.from_pretrained(tmp_path)
    count = sum(parameter.numel() for parameter in loaded.parameters())
    frames, size = loaded.config.num_frames, loaded.config.image_size
    text = str(build_model_card(tmp_path, repo_id="alice/m"))
    assert f"**This checkpoint:** {count:,} parameters;" in text
    assert f"input: {frames} RGB frames of {size}x{size} pixels per clip" in text
    assert f"(batch, {frames}, 3, {size}, {size})" in text
    # The tiny config is not the published one, and the card says where it differs.
    assert "`image_size` = `32` (default `112`)" in text and "`num_frames`" in text


def test_the_card_of_the_default_configuration_says_so(tmp_path):
    config = GcaResNetForVideoClassification.config_class(id2label=dict(enumerate(LABELS)))
    facts = model_card_module.checkpoint_facts(
        model_card_module.TrainingOutput(
            tmp_path, config.to_dict(), {"size": {"height": 112, "width": 112}}, {"model_type": "gca_resnet",
            "labels": LABELS}, {}, (), None, ()
        )
    )
    assert facts["parameter_count"] == 18_936_775 and facts["differences"] == []  # the paper's size (yaml)


def test_research_only_data_give_the_weights_their_terms(training_output):
    card = build_model_card(training_output, repo_id="alice/m")
    assert card.data.license == "other" and card.data.license_name == "research-only"
    assert card.data.license_link == "https://dfew-dataset.github.io/"
    assert card.data.datasets == ["dfew"]
    section = str(card).split("## License", 1)[1].split("##", 1)[0]
    assert "MIT-licensed" in section and "research use only, no commercial use" in section
    with pytest.raises(PublishError, match="research-only and the weights inherit its terms"):
        check_license(read_training_output(training_output), "mit")
    check_license(read_training_output(training_output), None)
    check_license(read_training_output(training_output), "other")


def test_other_data_need_a_license_chosen_by_the_publisher(tmp_path, capsys):
    from dfer.cli import main as dfer
    from dfer.hub import push_training_output

    write_training_output(tmp_path, dataset="sample", with_image=False)
    output = read_training_output(tmp_path)
    with pytest.raises(PublishError, match="pass one with --license"):
        check_license(output, None)
    with pytest.raises(PublishError, match="pass one with --license"):  # before any request (nothing on port 9)
        push_training_output(tmp_path, "alice/m", token="hf_x", endpoint="http://127.0.0.1:9")
    assert dfer(["push", str(tmp_path), "--repo-id", "alice/m", "--dry-run"]) == 1
    assert "pass one with --license" in capsys.readouterr().err
    unlicensed = build_model_card(output, repo_id="alice/m")  # a card can still be rendered: it says so
    assert unlicensed.data.license is None and "No license has been chosen for the weights" in str(unlicensed)
    card = build_model_card(output, repo_id="alice/m", license="mit")
    assert card.data.license == "mit" and card.data.datasets is None
    assert "published under the `mit` license, chosen by the publisher" in str(card)
    assert dfer(["push", str(tmp_path), "--repo-id", "alice/m", "--dry-run", "--license", "mit"]) == 0


def test_a_fine_tuned_run_names_its_base_model(tmp_path):
    write_training_output(tmp_path, with_image=False)
    path = tmp_path / "run_args.json"
    run_args = json.loads(path.read_text())
    path.write_text(json.dumps(run_args | {"model_name_or_path": "alice/gca-resnet-dfew"}))
    card = build_model_card(tmp_path, repo_id="alice/m2")
    assert card.data.base_model == "alice/gca-resnet-dfew"
    assert "Fine-tuned from [`alice/gca-resnet-dfew`](https://huggingface.co/alice/gca-resnet-dfew)." in str(card)
    path.write_text(json.dumps(run_args | {"model_name_or_path": "my_local_checkpoint"}))
    card = build_model_card(tmp_path, repo_id="alice/m2")
    assert card.data.base_model is None
    assert "Fine-tuned from a local checkpoint, `my_local_checkpoint` (not on the Hub)." in str(card)
    path.write_text(json.dumps(run_args))  # no starting point: trained from scratch
    text = str(build_model_card(tmp_path, repo_id="alice/m2"))
    assert "base_model" not in text and "Fine-tuned" not in text


def test_the_card_describes_the_real_nature_and_balance_of_the_data(tmp_path, training_output):
    real = str(build_model_card(training_output, repo_id="alice/m"))
    assert "human annotators" in real and "no real person" not in real
    assert "The `test` split is imbalanced: from 38 clips (Happy) down to 3 (Disgust)" in real
    assert "The classes are imbalanced (see above)" in real and "DFEW is strongly imbalanced" in real

    balanced = [[3 if i == j else 0 for j in range(7)] for i in range(7)]
    write_training_output(tmp_path, dataset="sample", confusion=balanced, with_image=False)
    synthetic = str(build_model_card(tmp_path, repo_id="alice/m", license="mit"))
    assert "annotator" not in synthetic.lower()
    assert "no person labelled anything" in synthetic and "no real person is in them" in synthetic
    assert "The `test` split is balanced: every class has 3 clips." in synthetic
    assert "balanced by construction" in synthetic and "The classes are imbalanced" not in synthetic
    assert "it has never seen a real face" in synthetic


def test_logs_are_mentioned_only_when_they_are_uploaded(tmp_path):
    write_training_output(tmp_path, with_logs=True, with_image=False)
    without = str(build_model_card(tmp_path, repo_id="alice/m"))
    assert "TensorBoard" not in without and "runs/" not in without
    with_logs = str(build_model_card(tmp_path, repo_id="alice/m", include_logs=True))
    assert "the TensorBoard logs of the run" in with_logs and "are in `runs/`" in with_logs


def test_write_model_card_puts_the_true_card_in_the_folder(tmp_path):
    folder = tmp_path / "fold1"
    folder.mkdir()
    write_training_output(folder, with_image=False)
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("not to be overwritten\n")
    (folder / "README.md").symlink_to(elsewhere)  # a link planted where the card goes is replaced, not followed
    path = write_model_card(folder)
    assert path == folder / "README.md" and not path.is_symlink()
    assert elsewhere.read_text() == "not to be overwritten\n"
    assert path.read_text() == str(build_model_card(folder, repo_id="your-namespace/fold1"))
    written = write_model_card(folder, "alice/gca-resnet-dfew", revision="fold-1").read_text()
    assert written == str(build_model_card(folder, repo_id="alice/gca-resnet-dfew", revision="fold-1"))
    assert ModelCard(written).data.license == "other"
    with pytest.raises(PublishError, match="research-only"):
        write_model_card(folder, license="mit")

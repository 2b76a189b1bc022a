"""The UAR/WAR `evaluate` metric shipped in `dfer.metric`: it loads from its folder with the network blocked,
computes what a hand count gives, writes nothing per evaluation, and is the one definition behind the
training metrics."""

import ast
import doctest
import functools
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import evaluate
import numpy as np
import pytest
from isolated_process import run_without_dfer
from transformers import EvalPrediction

from dfer.metric import METRIC_PATH, load_metric, recall_metrics
from dfer.metric.uar_war import uar_war
from dfer.training import metrics as training_metrics
from dfer.training.metrics import classification_metrics, confusion_matrix, make_compute_metrics

SCRIPT = METRIC_PATH / "uar_war.py"
SCRIPT_IMPORTS = {"evaluate", "datasets", "numpy"}

# Three classes counted by hand. Rows = true class, columns = predicted class:
#   class 0 (3 clips): 0, 0, 1  -> recall 2/3
#   class 1 (2 clips): 1, 0     -> recall 1/2
#   class 2 (4 clips): 2, 2, 2, 0 -> recall 3/4
REFERENCES = [0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTIONS = [0, 0, 1, 1, 0, 2, 2, 2, 0]
MATRIX = [[2, 1, 0], [1, 1, 0], [1, 0, 3]]
WAR = 6 / 9
UAR = (2 / 3 + 1 / 2 + 3 / 4) / 3

# Code run first in a child process: refuse and record every connection or name lookup.
BLOCK_SOCKETS = """
import socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args))
    raise OSError("network blocked by the test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
"""


@pytest.fixture
def offline(monkeypatch):
    """The offline switches set and every socket connection or name lookup refused; yields the attempts, so
    that a test also fails if a library swallowed the refusal."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture(scope="module")
def metric():
    return load_metric()


def test_loads_from_its_folder_with_the_network_blocked(offline):
    assert METRIC_PATH.is_absolute() and SCRIPT.is_file()  # a relative path that misses would go to the Hub
    loaded = evaluate.load(str(METRIC_PATH))
    assert isinstance(loaded, evaluate.Metric) and loaded.name == "uar_war"
    assert {name: feature.dtype for name, feature in loaded.features.items()} == {
        "predictions": "int64",
        "references": "int64",
    }
    helper = load_metric()
    assert helper.keep_in_memory
    assert helper.compute(predictions=PREDICTIONS, references=REFERENCES)["war"] == pytest.approx(WAR)
    assert offline == []
    with pytest.raises(OSError):  # and the block does see a connection: this one is refused and recorded
        socket.create_connection(("huggingface.co", 443), timeout=1)
    assert offline


def test_hand_counted_example(metric):
    results = metric.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert results["confusion_matrix"] == MATRIX
    assert results["war"] == pytest.approx(WAR)
    assert results["uar"] == pytest.approx(UAR)
    assert results["per_class_recall"] == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    assert results["uar"] != pytest.approx(results["war"])  # the example tells the two averages apart


def test_a_class_absent_from_the_references_is_none_and_left_out_of_uar(metric):
    # Class 3 is predicted once (instead of a right class-0 clip) but never true: no recall of its own.
    predictions = [3, *PREDICTIONS[1:]]
    results = metric.compute(predictions=predictions, references=REFERENCES)  # num_labels inferred: 4
    assert results["per_class_recall"] == pytest.approx([1 / 3, 1 / 2, 3 / 4, None])
    assert results["uar"] == pytest.approx((1 / 3 + 1 / 2 + 3 / 4) / 3)
    assert results["war"] == pytest.approx(5 / 9)
    assert results["confusion_matrix"][0] == [1, 1, 0, 1] and results["confusion_matrix"][3] == [0, 0, 0, 0]


def test_num_labels_pads_classes_seen_nowhere(metric):
    results = metric.compute(predictions=PREDICTIONS, references=REFERENCES, num_labels=5)
    assert results["per_class_recall"][3:] == [None, None]
    assert results["uar"] == pytest.approx(UAR)
    assert np.array(results["confusion_matrix"]).shape == (5, 5)


def test_no_clips_scores_zero_rather_than_nan(metric):
    # The Trainer logs the scores and metrics.json stores them: they stay numbers, the recalls None.
    results = metric.compute(predictions=[], references=[], num_labels=3)
    assert results == {
        "war": 0.0,
        "uar": 0.0,
        "per_class_recall": [None, None, None],
        "confusion_matrix": [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    }
    assert classification_metrics([], [], ["a", "b"])["num_clips"] == 0
    with pytest.raises(ValueError, match="cannot be inferred"):
        metric.compute(predictions=[], references=[])


def test_label_names_key_the_recalls(metric):
    names = ["happy", "sad", "neutral", "angry"]
    results = metric.compute(predictions=PREDICTIONS, references=REFERENCES, label_names=names)
    assert results["per_class_recall"] == pytest.approx(
        {"happy": 2 / 3, "sad": 1 / 2, "neutral": 3 / 4, "angry": None}
    )
    assert len(results["confusion_matrix"]) == len(names)
    assert results["uar"] == pytest.approx(UAR)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            {"references": [0, 1, 3], "predictions": [0, 1, 2], "num_labels": 3},
            r"references must lie in \[0, 3\)",
        ),
        (
            {"references": [0, 1, 2], "predictions": [0, -1, 2], "num_labels": 3},
            r"predictions must lie in \[0, 3\)",
        ),
        (
            {"references": [0, 1, 2], "predictions": [0, 1, 2], "label_names": ["a", "b"]},
            r"must lie in \[0, 2\)",
        ),
        (
            {"references": [0, 1], "predictions": [0, 1], "label_names": ["a", "b"], "num_labels": 3},
            "label_names",
        ),
        ({"references": [0, 1], "predictions": [0, 1], "label_names": ["a", "a"]}, "distinct"),
    ],
)
def test_wrong_inputs_are_refused(metric, arguments, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(**arguments)


def test_the_plain_function_refuses_what_a_cast_would_hide():
    with pytest.raises(ValueError, match="1-D"):
        recall_metrics(np.zeros((3, 7)), [0, 1, 2], 7)  # logits instead of their argmax
    with pytest.raises(ValueError, match="integer"):
        recall_metrics([0.0, 1.5], [0, 1], 2)
    with pytest.raises(ValueError, match="2 predictions for 3 references"):
        recall_metrics([0, 1], [0, 1, 1], 2)
    with pytest.raises(ValueError, match="positive int"):
        recall_metrics([], [], 0)


def test_batches_give_the_same_as_one_compute(metric):
    for start in range(0, len(REFERENCES), 4):
        metric.add_batch(predictions=PREDICTIONS[start : start + 4], references=REFERENCES[start : start + 4])
    batched = metric.compute(num_labels=4)
    assert batched == metric.compute(predictions=PREDICTIONS, references=REFERENCES, num_labels=4)
    assert batched["confusion_matrix"][:3] == [row + [0] for row in MATRIX]


def random_split(seed: int, num_labels: int = 7, size: int = 300):
    """Imbalanced random predictions and references, with class 5 never true."""
    rng = np.random.default_rng(seed)
    references = rng.choice([0, 1, 2, 3, 4, 6], size=size, p=[0.4, 0.25, 0.15, 0.1, 0.05, 0.05])
    predictions = np.where(rng.random(size) < 0.6, references, rng.integers(0, num_labels, size))
    return predictions, references


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_metrics_and_the_metric_agree(metric, seed):
    names = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
    predictions, references = random_split(seed)
    recorded = classification_metrics(predictions, references, names)
    computed = metric.compute(predictions=predictions, references=references, label_names=names)
    assert recorded == {
        "war": computed["war"],
        "uar": computed["uar"],
        "per_class_accuracy": computed["per_class_recall"],
        "confusion_matrix": computed["confusion_matrix"],
        "num_clips": len(references),
    }
    # Both against a count written independently of the module's code.
    recalls = {
        name: np.mean(predictions[references == index] == index) if np.any(references == index) else None
        for index, name in enumerate(names)
    }
    assert recalls["Disgust"] is None
    assert recorded["per_class_accuracy"] == pytest.approx(recalls)
    assert recorded["war"] == pytest.approx(np.mean(predictions == references))
    assert recorded["uar"] == pytest.approx(
        np.mean([value for value in recalls.values() if value is not None])
    )
    assert confusion_matrix(predictions, references, 7).tolist() == recorded["confusion_matrix"]


def test_compute_metrics_goes_through_one_loaded_module(monkeypatch):
    loads = []

    def counting_load_metric(**kwargs):
        loads.append(kwargs)
        return load_metric(**kwargs)

    monkeypatch.setattr(training_metrics, "load_metric", counting_load_metric)
    names = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
    compute_metrics = make_compute_metrics(names)
    rng = np.random.default_rng(3)
    for _ in range(2):
        _, references = random_split(int(rng.integers(100)), size=120)
        logits = rng.normal(size=(120, 7))
        # The model returns extras beside the logits: EvalPrediction.predictions is then a tuple.
        flat = compute_metrics(
            EvalPrediction(predictions=(logits, rng.normal(size=(120, 4))), label_ids=references)
        )
        expected = classification_metrics(logits.argmax(axis=-1), references, names)
        assert flat == {
            "war": expected["war"],
            "uar": expected["uar"],
            **{
                f"accuracy_{name.lower()}": v
                for name, v in expected["per_class_accuracy"].items()
                if v is not None
            },
        }
        assert "accuracy_disgust" not in flat  # never true in these references
    assert len(loads) == 1


def run_child(code: str, env: dict, cwd) -> dict:
    """Run `code` (after the socket block) in a fresh interpreter with `env`; return the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_SOCKETS + textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def files_under(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_evaluations_write_nothing_in_the_metrics_cache(tmp_path):
    # evaluate reads its cache locations once, when `evaluate.config` is imported: only a fresh process can
    # be pointed at tmp_path.
    metrics_cache = tmp_path / "metrics"
    modules_cache = tmp_path / "modules"
    control_cache = tmp_path / "control"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "XDG_"))}
    env.update(
        HOME=str(tmp_path),
        HF_HOME=str(tmp_path / "hf_home"),
        HF_METRICS_CACHE=str(metrics_cache),
        HF_MODULES_CACHE=str(modules_cache),
        HF_HUB_OFFLINE="1",
        HF_EVALUATE_OFFLINE="1",
    )
    code = f"""
    import json
    import evaluate
    from dfer.metric import METRIC_PATH, load_metric
    metric = load_metric()
    for _ in range(3):
        results = metric.compute(predictions={PREDICTIONS}, references={REFERENCES})
    metric.add_batch(predictions={PREDICTIONS}, references={REFERENCES})
    metric.compute()
    # The control: the same computation through a module that keeps its data on disk.
    evaluate.load(str(METRIC_PATH), cache_dir={str(control_cache)!r}).compute(
        predictions={PREDICTIONS}, references={REFERENCES}
    )
    print(json.dumps({{"results": results, "attempts": attempts}}))
    """
    child = run_child(code, env, tmp_path)
    assert child["attempts"] == []
    assert child["results"]["confusion_matrix"] == MATRIX
    assert metrics_cache.is_dir() and files_under(metrics_cache) == []  # evaluate makes the folder, no file
    assert files_under(control_cache)  # the check would see a file: the on-disk module leaves its lock
    # The environment reached evaluate: the script was copied under the modules cache given, not elsewhere.
    assert [path for path in files_under(modules_cache) if path.endswith("uar_war.py")]
    assert not (tmp_path / ".cache").exists()


def test_loads_in_a_process_without_dfer(tmp_path):
    # What evaluate runs is its own copy of the script: it must work where `dfer` cannot be imported.
    code = BLOCK_SOCKETS + textwrap.dedent(f"""
    import json, os
    os.environ["HF_EVALUATE_OFFLINE"] = "1"
    os.environ["HF_HOME"] = {str(tmp_path / "hf_home")!r}
    import evaluate
    metric = evaluate.load({str(METRIC_PATH)!r}, keep_in_memory=True)
    results = metric.compute(predictions={PREDICTIONS}, references={REFERENCES}, label_names=["a", "b", "c"])
    print(json.dumps({{"results": results, "attempts": attempts}}))
    """)
    child = json.loads(run_without_dfer(code, cwd=tmp_path).strip().splitlines()[-1])
    assert child["attempts"] == []
    assert child["results"]["per_class_recall"] == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 3 / 4})


def test_the_script_imports_only_what_evaluate_users_have():
    tree = ast.parse(SCRIPT.read_text(), filename=str(SCRIPT))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # A relative import would be fetched by evaluate as a second file; there is none to fetch.
            assert node.level == 0, f"relative import of {node.module} in {SCRIPT.name}"
            imported.add(node.module.split(".")[0])
    assert imported <= SCRIPT_IMPORTS, imported - SCRIPT_IMPORTS


def test_the_script_defines_exactly_one_evaluation_module():
    # evaluate.load takes the first EvaluationModule subclass in the script's namespace: an imported
    # `Metric` name would be picked instead of the real class.
    modules = [value for value in vars(uar_war).values() if isinstance(value, type)]
    assert [cls for cls in modules if issubclass(cls, evaluate.EvaluationModule)] == [uar_war.UarWar]


@pytest.mark.parametrize("where", ["README.md", "inputs description"])
def test_documented_examples_hold(monkeypatch, where):
    if where == "README.md":  # the card's python blocks, without the fences doctest would read as output
        text = "\n".join(re.findall(r"```python\n(.*?)```", (METRIC_PATH / "README.md").read_text(), re.S))
    else:
        text = uar_war._KWARGS_DESCRIPTION
    monkeypatch.chdir(METRIC_PATH.parents[1])  # the examples load "metric/uar_war" from the repository root
    # In memory, so that running the examples leaves nothing in the user's metrics cache.
    monkeypatch.setattr(evaluate, "load", functools.partial(evaluate.load, keep_in_memory=True))
    test = doctest.DocTestParser().get_doctest(text, {"evaluate": evaluate}, where, where, 0)
    assert test.examples, f"no example in {where}"
    reports = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=reports.append)
    assert runner.failures == 0, "".join(reports)

"""Publishing end to end against the loopback Hub (tests/hub_server.py): push a trained tiny checkpoint with
scripts/push_to_hub.py, then load it by repo id in a fresh process that cannot import `dfer`.

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when it is imported, and this test process imported it long
ago (and may run with HF_HUB_OFFLINE=1), so everything that talks to the server runs in a child process whose
environment points at the server; the server itself runs in a thread of this process.

The server sends weights, images, TensorBoard files and large files through LFS, as the Hub does. With hf_xet
installed, huggingface_hub uploads those through Xet storage, which the server does not emulate: pushes that must
succeed run with HF_HUB_DISABLE_XET=1 (the LFS path, taken by every client without hf_xet), and the Xet path is
tested where it fails (test_upload_failures.py).
"""

import ast
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hub_server import LoopbackHub
from huggingface_hub import constants
from isolated_process import run_without_dfer
from processing_fixtures import write_video
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_model_card import TRAINING_HOST, write_training_output
from transformers import pipeline

from dfer.hub import PublishError, push_training_output
from dfer.modeling import GcaResNetForVideoClassification

WRITE_TOKEN, READ_TOKEN = "hf_alice_write", "hf_alice_read"
TOKENS = {WRITE_TOKEN: ("alice", True), READ_TOKEN: ("alice", False), "hf_bob": ("bob", True)}
REPO_ID, BRANCH = "alice/gca-resnet-dfew", "fold-1"


def hub_environment(hub: LoopbackHub, home: Path, token: str | None, xet: bool = False) -> dict[str, str]:
    """What a child process needs to talk to the loopback Hub, and nothing from this machine's setup. Large files
    take the LFS path, or with `xet` the Xet path (with hf_xet's retries cut short, so that a failure is quick)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HF_HOME": str(home / "hf_home"),
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",  # offline mode blocks every request, loopback ones included
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    if xet:
        env |= {
            "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "1",
            "HF_XET_CLIENT_RETRY_BASE_DELAY": "10ms",
            "HF_XET_CLIENT_RETRY_MAX_DURATION": "200ms",
            "HF_XET_TELEMETRY_ENABLED": "0",
        }
    else:
        env["HF_HUB_DISABLE_XET"] = "1"
    if token:
        env["HF_TOKEN"] = token
    return env


def run_python(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def with_environment(env: dict[str, str], code: str) -> str:
    """Code for `run_without_dfer` (whose environment is fixed) that sets `env` before huggingface_hub loads."""
    return f"import os\nos.environ.update({env!r})\n" + textwrap.dedent(code)


def assert_logs_carry_no_host_or_path(logs: Path, files: dict[str, bytes], forbidden: list[str]) -> None:
    """The published logs (written out under `logs`) hold the training scalars, read back by TensorBoard, and no
    text or hyperparameter summary; nothing published carries a forbidden string (host name, machine path)."""
    for name, content in files.items():
        for text in forbidden:
            assert text not in name and text.encode() not in content, (text, name)
    main_run = EventAccumulator(str(logs / "runs" / "Jan01_00-00-00")).Reload()
    assert [round(event.value, 4) for event in main_run.Scalars("train/loss")] == [2.0, 1.0, 0.6667]
    assert [event.step for event in main_run.Scalars("train/loss")] == [1, 2, 3]
    assert main_run.Tags()["tensors"] == [] and main_run.Tags()["scalars"] == ["train/loss"]
    (hparams_run,) = [path for path in (logs / "runs" / "Jan01_00-00-00").iterdir() if path.is_dir()]
    assert EventAccumulator(str(hparams_run)).Reload().Tags()["scalars"] == ["hparam/war"]


def test_push_then_load_by_repo_id_without_dfer(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    record = write_training_output(output, with_logs=True)
    write_video(tmp_path / "face_clip.mp4", 24, size=(40, 48))
    torch.manual_seed(0)
    pixel_values = torch.rand(2, 4, 3, 32, 32)
    reference_model = GcaResNetForVideoClassification.from_pretrained(output).eval()
    with torch.no_grad():
        reference_logits = reference_model(pixel_values).logits
    reference = pipeline("video-classification", model=str(output))(str(tmp_path / "face_clip.mp4"), top_k=7)

    with LoopbackHub(tokens=TOKENS) as hub:
        env = hub_environment(hub, tmp_path, WRITE_TOKEN)
        # Publish with `dfer push`, then, with dfer installed, run the card's snippet that needs no remote code.
        script_args = [str(output), "--repo-id", REPO_ID, "--revision", BRANCH, "--private", "--include-logs"]
        publisher = f"""
            import contextlib, io, json, re
            from dfer.cli import main as dfer
            assert dfer(["push", *{script_args!r}]) == 0

            from huggingface_hub import hf_hub_download
            card = open(hf_hub_download({REPO_ID!r}, "README.md", revision={BRANCH!r})).read()
            dfer_snippet = re.findall(r"```python\\n(.*?)```", card, flags=re.S)[2]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(dfer_snippet, {{}})
            print(json.dumps({{"dfer_snippet": printed.getvalue().strip()}}))
            """
        pushed = run_python(["-c", textwrap.dedent(publisher)], env, tmp_path)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        assert f"Published {REPO_ID} ({BRANCH})" in pushed.stdout
        with_dfer = json.loads(pushed.stdout.strip().splitlines()[-1])["dfer_snippet"]
        assert [p["label"] for p in ast.literal_eval(with_dfer)] == [p["label"] for p in reference[:3]]

        # One commit on the fold's branch, on top of the repository's initial commit; main is untouched.
        assert hub.repos[REPO_ID].private
        history = hub.history(REPO_ID, BRANCH)
        assert len(history) == 2
        assert history[0].title == "Upload GCA-ResNet (IAL) trained on DFEW fold 1 (WAR 70.06, UAR 58.61)"
        assert set(hub.files(REPO_ID, "main")) == {".gitattributes"}
        files = hub.files(REPO_ID, BRANCH)
        local = {path.relative_to(output).as_posix() for path in output.rglob("*") if path.is_file()}
        local -= {"training_args.bin", "checkpoint-10/optimizer.pt"}
        # The TensorBoard logs are published renamed (no host name) and rewritten (scalars only).
        local_logs = {name for name in local if name.startswith("runs/")}
        published_logs = {
            re.sub(rf"_{TRAINING_HOST}/|\.{TRAINING_HOST}\.\d+\.\d+$", lambda m: "/" if m[0].endswith("/") else ".0", name)
            for name in local_logs
        }
        assert len(local_logs) == 2 and len(published_logs) == 2
        assert set(files) == (local - local_logs) | published_logs | {"README.md", ".gitattributes"}
        assert all(files[name] == (output / name).read_bytes() for name in local - local_logs)
        # Weights, image and logs took the LFS path, end to end (batch API, storage, verify, lfsFile pointers).
        commit = hub.history(REPO_ID, BRANCH)[0]
        assert commit.lfs_files == {"model.safetensors", "confusion_matrix.png", *published_logs}
        stored = {path.removeprefix("/lfs-storage/") for method, path, status in hub.requests if method == "PUT"}
        assert hashlib.sha256(files["model.safetensors"]).hexdigest() in stored
        assert not any("xet" in path for _, path, _ in hub.requests)
        logs = tmp_path / "published_logs"
        for name in published_logs:
            (logs / name).parent.mkdir(parents=True, exist_ok=True)
            (logs / name).write_bytes(files[name])
        assert_logs_carry_no_host_or_path(logs, files, [TRAINING_HOST, str(tmp_path)])

        # A user without dfer loads it by repo id, and the card's snippets run as written.
        online = run_without_dfer(
            with_environment(
                env,
                f"""
                import contextlib, io, json, re
                import torch
                from huggingface_hub import ModelCard, hf_hub_download
                from transformers import AutoModelForVideoClassification, pipeline

                model = AutoModelForVideoClassification.from_pretrained(
                    {REPO_ID!r}, revision={BRANCH!r}, trust_remote_code=True
                ).eval()
                assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
                torch.manual_seed(0)
                with torch.no_grad():
                    logits = model(torch.rand(2, 4, 3, 32, 32)).logits
                classifier = pipeline(
                    "video-classification", model={REPO_ID!r}, revision={BRANCH!r}, trust_remote_code=True
                )
                predictions = classifier("face_clip.mp4", top_k=7)

                card = ModelCard.load(hf_hub_download({REPO_ID!r}, "README.md", revision={BRANCH!r}))
                results = [
                    {{"type": r.metric_type, "value": r.metric_value, "dataset": r.dataset_type,
                      "config": r.dataset_config, "split": r.dataset_split}}
                    for r in card.data.eval_results
                ]
                snippet_outputs = []
                for snippet in re.findall(r"```python\\n(.*?)```", card.text, flags=re.S)[:2]:
                    printed = io.StringIO()
                    with contextlib.redirect_stdout(printed):
                        exec(snippet, {{}})
                    snippet_outputs.append(printed.getvalue().strip())

                # Offline mode (what HF_HUB_OFFLINE=1 sets; every request then raises) loads from the cache.
                import huggingface_hub.constants
                huggingface_hub.constants.HF_HUB_OFFLINE = True
                offline_predictions = pipeline(
                    "video-classification", model={REPO_ID!r}, revision={BRANCH!r}, trust_remote_code=True
                )("face_clip.mp4", top_k=7)
                print(json.dumps({{"logits": logits.tolist(), "predictions": predictions, "results": results,
                                  "snippets": snippet_outputs, "offline_predictions": offline_predictions}}))
                """,
            ),
            cwd=tmp_path,
        )

    loaded = json.loads(online.strip().splitlines()[-1])
    torch.testing.assert_close(torch.tensor(loaded["logits"]), reference_logits, rtol=1e-4, atol=1e-5)
    assert [p["label"] for p in loaded["predictions"]] == [p["label"] for p in reference]
    assert [p["score"] for p in loaded["predictions"]] == pytest.approx(
        [p["score"] for p in reference], abs=1e-5
    )
    results = {result["type"]: result for result in loaded["results"]}
    assert results["accuracy"]["value"] == pytest.approx(record["metrics"]["war"], abs=1e-12)
    assert results["recall"]["value"] == pytest.approx(record["metrics"]["uar"], abs=1e-12)
    assert {(r["dataset"], r["config"], r["split"]) for r in results.values()} == {("dfew", "fold_1", "test")}
    pipeline_snippet, auto_snippet = loaded["snippets"]
    assert [p["label"] for p in ast.literal_eval(pipeline_snippet)] == [p["label"] for p in reference[:3]]
    assert auto_snippet == reference[0]["label"]

    assert [p["label"] for p in loaded["offline_predictions"]] == [p["label"] for p in reference]


def test_refusals_give_one_message_and_leave_nothing_behind(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    write_training_output(output, with_image=False)
    with LoopbackHub(tokens=TOKENS) as hub:
        hub.add_repo("alice/locked", files={"README.md": b"---\nlicense: mit\n---\nearlier card\n"})
        hub.refuse_commits_to |= {"alice/refused", "alice/locked"}
        code = f"""
            import contextlib, io, json
            from dfer.hub import PublishError, push_training_output

            results = {{}}
            for name, kwargs in {{
                "invalid_token": dict(repo_id="alice/a", token="hf_wrong"),
                "read_only_token": dict(repo_id="alice/a", token={READ_TOKEN!r}),
                "other_namespace": dict(repo_id="bob/a"),
                "commit_refused_new_repo": dict(repo_id="alice/refused"),
                "commit_refused_new_branch": dict(repo_id="alice/locked", revision="fold-2"),
            }}.items():
                try:
                    push_training_output({str(output)!r}, **kwargs)
                    results[name] = "published"
                except PublishError as error:
                    results[name] = str(error)

            # `dfer push` turns the same error into one line on stderr and exit status 1.
            from dfer.cli import main as dfer
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                results["script_status"] = dfer(["push", {str(output)!r}, "--repo-id", "alice/refused"])
            results["script_stderr"] = stderr.getvalue()
            print(json.dumps(results))
            """
        done = run_python(
            ["-c", textwrap.dedent(code)], hub_environment(hub, tmp_path, WRITE_TOKEN), tmp_path
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads(done.stdout.strip().splitlines()[-1])

        assert results["invalid_token"].startswith(
            "The Hub refused creating the repository alice/a: HTTP 401"
        )
        assert "log in again" in results["invalid_token"]
        assert results["read_only_token"].startswith(
            "The Hub refused creating the repository alice/a: HTTP 403"
        )
        assert "check that the token has write access" in results["read_only_token"]
        assert results["other_namespace"].startswith(
            "The Hub refused creating the repository bob/a: HTTP 403"
        )
        for name in ("invalid_token", "read_only_token", "other_namespace"):
            assert results[name].endswith("Nothing was published.")
        assert "bob/a" not in hub.repos and "alice/a" not in hub.repos

        refused = results["commit_refused_new_repo"]
        assert refused.startswith("The Hub refused committing") and "HTTP 403" in refused
        assert refused.endswith(
            "The repository alice/refused created by this push was deleted again; nothing was published."
        )
        assert "alice/refused" not in hub.repos

        refused = results["commit_refused_new_branch"]
        assert "The branch 'fold-2' created by this push was deleted again" in refused
        assert set(hub.repos["alice/locked"].branches) == {"main"}
        assert hub.files("alice/locked") == {
            ".gitattributes": hub.files("alice/locked")[".gitattributes"],
            "README.md": b"---\nlicense: mit\n---\nearlier card\n",
        }

        assert results["script_status"] == 1
        assert results["script_stderr"].startswith("dfer push: error: The Hub refused committing")
        assert (
            len(results["script_stderr"].strip().splitlines()) == 1
            and "Traceback" not in results["script_stderr"]
        )
        # No refused push got a commit in.
        assert not any("/commit/" in path and status == 200 for _, path, status in hub.requests)


def test_no_token_or_offline_mode_stop_before_any_request(tmp_path, monkeypatch):
    output = tmp_path / "run"
    output.mkdir()
    write_training_output(output, with_image=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE is set"):
        push_training_output(output, "alice/m", token=WRITE_TOKEN, endpoint="http://127.0.0.1:9")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no_token_here"))
    with pytest.raises(
        PublishError, match=r"No Hugging Face token found: run `hf auth login`.*Nothing was published"
    ):
        push_training_output(output, "alice/m", endpoint="http://127.0.0.1:9")  # port 9: nothing listens


def test_a_bad_folder_is_refused_before_contacting_the_hub(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    write_training_output(output, with_image=False)
    (output / "model.safetensors").unlink()
    with pytest.raises(PublishError, match="has no model.safetensors"):
        push_training_output(output, "alice/m", token=WRITE_TOKEN, endpoint="http://127.0.0.1:9")

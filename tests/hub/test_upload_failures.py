"""When the upload itself fails, on the LFS path or on the Xet path (huggingface_hub's default whenever hf_xet is
installed), a push ends in one `PublishError` message and removes the repository or branch it had created.

The loopback Hub (tests/hub_server.py) sends weights, images, TensorBoard files and files over 10 MiB through LFS
as the Hub does. It implements the LFS batch API and its storage, and hands out Xet write tokens, but it does not
emulate Xet storage (the CAS): a successful Xet upload cannot be tested here, only its failures (the CAS
unreachable, the CAS refusing).
"""

import json
import socket
import textwrap
import urllib.request

import pytest
from hub_server import LFS_SIZE_THRESHOLD, LoopbackHub, uses_lfs
from test_hub import TOKENS, WRITE_TOKEN, hub_environment, run_python
from test_model_card import write_training_output

PUSHES = """
    import contextlib, io, json
    from dfer.cli import main as dfer
    from dfer.hub import PublishError, push_training_output

    results = {{}}
    for name, kwargs in {pushes!r}.items():
        try:
            push_training_output({output!r}, **kwargs)
            results[name] = "published"
        except PublishError as error:
            results[name] = str(error)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        results["cli_status"] = dfer(["push", {output!r}, "--repo-id", "alice/cli"])
    results["cli_stderr"] = stderr.getvalue()
    print(json.dumps(results))
    """


def run_pushes(hub: LoopbackHub, tmp_path, output, pushes: dict, xet: bool) -> dict:
    code = textwrap.dedent(PUSHES.format(pushes=pushes, output=str(output)))
    done = run_python(["-c", code], hub_environment(hub, tmp_path, WRITE_TOKEN, xet=xet), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_rolled_back(hub: LoopbackHub, results: dict) -> None:
    """Every push failed with one line, and left no repository or branch behind."""
    for name in ("new_repo", "new_branch", "cli_stderr"):
        assert len(results[name].strip().splitlines()) == 1 and "Traceback" not in results[name], results[name]
    assert results["new_repo"].endswith(
        "The repository alice/fresh created by this push was deleted again; nothing was published."
    )
    assert "alice/fresh" not in hub.repos
    assert "The branch 'fold-2' created by this push was deleted again" in results["new_branch"]
    assert set(hub.repos["alice/existing"].branches) == {"main"}
    assert set(hub.files("alice/existing")) == {".gitattributes", "README.md"}
    assert results["cli_status"] == 1 and results["cli_stderr"].startswith("dfer push: error: Pushing to alice/cli")
    assert "alice/cli" not in hub.repos
    assert not any("/commit/" in path and status == 200 for _, path, status in hub.requests)


@pytest.fixture
def output(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    write_training_output(folder)
    return folder


PUSH_KWARGS = {"new_repo": dict(repo_id="alice/fresh"), "new_branch": dict(repo_id="alice/existing", revision="fold-2")}


def test_the_hub_sends_weights_images_logs_and_large_files_through_lfs(tmp_path):
    assert uses_lfs("model.safetensors", 10) and uses_lfs("confusion_matrix.png", 10)
    assert uses_lfs("runs/Jan01/events.out.tfevents.1.0", 10) and uses_lfs("big.json", LFS_SIZE_THRESHOLD + 1)
    assert not uses_lfs("config.json", 1000) and not uses_lfs("modeling_gca_resnet.py", 50_000)
    with LoopbackHub(tokens=TOKENS) as hub:
        hub.add_repo("alice/m")
        files = [("model.safetensors", 100), ("huge.json", LFS_SIZE_THRESHOLD + 1), ("config.json", 100)]
        request = urllib.request.Request(
            f"{hub.url}/api/models/alice/m/preupload/main",
            data=json.dumps({"files": [{"path": p, "size": n, "sample": ""} for p, n in files]}).encode(),
            headers={"Authorization": f"Bearer {WRITE_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            modes = {item["path"]: item["uploadMode"] for item in json.loads(response.read())["files"]}
    assert modes == {"model.safetensors": "lfs", "huge.json": "lfs", "config.json": "regular"}


def test_an_lfs_upload_failure_is_one_message_and_rolls_back(tmp_path, output):
    with LoopbackHub(tokens=TOKENS) as hub:
        hub.add_repo("alice/existing", files={"README.md": b"---\nlicense: mit\n---\nearlier card\n"})
        hub.lfs_storage_status = 403  # the storage refuses every upload (e.g. an expired presigned URL)
        results = run_pushes(hub, tmp_path, output, PUSH_KWARGS, xet=False)
        assert_rolled_back(hub, results)
        # The failure came from the LFS upload itself: huggingface_hub's RuntimeError, with the storage's answer.
        assert any(path.endswith(".git/info/lfs/objects/batch") for _, path, _ in hub.requests)
        assert any(method == "PUT" and status == 403 for method, _, status in hub.requests)
        assert results["new_repo"].startswith("Pushing to alice/fresh failed while committing")
        assert "RuntimeError: Error while uploading" in results["new_repo"]
        assert "(HTTP 403: The LFS storage refused the upload)" in results["new_repo"]
        assert not hub.lfs_objects


def test_lfs_objects_already_stored_are_not_uploaded_again(tmp_path, output):
    """The LFS path end to end: objects already in storage are not uploaded again, as on the Hub."""
    with LoopbackHub(tokens=TOKENS) as hub:
        pushes = {"first": dict(repo_id="alice/a"), "second": dict(repo_id="alice/b")}
        results = run_pushes(hub, tmp_path, output, pushes, xet=False)
        assert results["first"] == results["second"] == "published" and results["cli_status"] == 0
        weights = (output / "model.safetensors").read_bytes()
        assert hub.files("alice/a")["model.safetensors"] == hub.files("alice/b")["model.safetensors"] == weights
        puts = [path for method, path, status in hub.requests if method == "PUT" and status == 200]
        assert len(puts) == len(set(puts)) == 2  # weights and image, once each for three pushes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("failure", ["cas_unreachable", "cas_refuses"])
def test_an_xet_upload_failure_is_one_message_and_rolls_back(tmp_path, output, failure):
    with LoopbackHub(tokens=TOKENS) as hub:
        hub.add_repo("alice/existing", files={"README.md": b"---\nlicense: mit\n---\nearlier card\n"})
        if failure == "cas_unreachable":
            hub.xet_cas_url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
        else:
            hub.xet_cas_status = 403
        results = run_pushes(hub, tmp_path, output, PUSH_KWARGS, xet=True)
        assert_rolled_back(hub, results)
        # The Xet path was taken (a write token was fetched; no LFS batch request), and failed inside hf_xet.
        assert any(path.endswith("/xet-write-token/main") for _, path, _ in hub.requests)
        assert any(path.endswith("/xet-write-token/fold-2") for _, path, _ in hub.requests)
        assert not any(".git/info/lfs" in path for _, path, _ in hub.requests)
        message = results["new_repo"]
        assert message.startswith("Pushing to alice/fresh failed while committing")
        if failure == "cas_unreachable":
            assert "ConnectionError" in message and "HF_HUB_DISABLE_XET=1" in message
        else:
            assert any(path.startswith("/xet-cas/") and status == 403 for _, path, status in hub.requests)

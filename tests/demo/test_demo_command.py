"""`dfer demo` (dfer.cli.demo over dfer.demo.build_demo) and the Space's app.py, without a browser: what is
launched with which settings, and the errors a user meets before the server starts."""

import runpy
import socket
import sys
import types
import urllib.request
from pathlib import Path

import pytest

import dfer.cli.demo
import dfer.demo.models
from dfer.cli import main
from dfer.inference import CheckpointLoadError

gradio = pytest.importorskip("gradio", reason="the demo needs Gradio: pip install 'gradio>=6,<7'")
SPACE_APP = Path(__file__).resolve().parents[2] / "space" / "app.py"


@pytest.fixture
def launches(monkeypatch):
    """The keyword arguments of every Blocks.launch call, which returns at once instead of serving."""
    calls = []
    monkeypatch.setattr(gradio.Blocks, "launch", lambda self, **kwargs: calls.append((self, kwargs)))
    return calls


def test_demo_launches_the_page_with_gradio_s_settings(tiny_checkpoint, launches):
    argv = ["demo", "--model", str(tiny_checkpoint), "--server-port", "8123", "--server-name", "0.0.0.0"]
    assert main(argv) == 0
    (demo, settings), = launches
    assert isinstance(demo, gradio.Blocks) and demo.title.startswith("dfer")
    assert settings == {
        "server_name": "0.0.0.0", "server_port": 8123, "share": False, "inbrowser": False, "max_file_size": None,
        "prevent_thread_lock": True, "quiet": True,  # the command prints its own line, then waits
    }  # fmt: skip
    assert main(["demo", "--model", str(tiny_checkpoint)]) == 0
    # Gradio's own defaults (127.0.0.1:7860, or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT) when none is given.
    assert launches[1][1]["server_name"] is None and launches[1][1]["server_port"] is None


def _picker(demo):
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "dfer-model")


def test_only_the_models_offered_unless_other_models_are_allowed(tiny_checkpoint, launches):
    assert main(["demo", "--model", str(tiny_checkpoint)]) == 0
    assert main(["demo", "--model", str(tiny_checkpoint), "--allow-other-models"]) == 0
    assert [_picker(demo).allow_custom_value for demo, _ in launches] == [False, True]


def test_remote_code_is_trusted_for_the_given_model_only(tmp_path, tiny_checkpoint, monkeypatch):
    calls = []
    real = dfer.demo.models.load_checkpoint

    def recording(name, device, revision, trust_remote_code):
        calls.append((name, trust_remote_code))
        return real(name, device, revision, False)

    monkeypatch.setattr(dfer.demo.models, "load_checkpoint", recording)
    given = str(tmp_path / "given-model")  # stands for --model; typed-in names are never trusted
    cache = dfer.demo.models.ModelCache("cpu", trusted={given})
    cache.get(str(tiny_checkpoint))
    with pytest.raises(CheckpointLoadError):
        cache.get(given)
    assert calls == [(str(tiny_checkpoint), False), (given, True)]


def test_a_model_that_cannot_load_is_one_error_line_before_serving(tmp_path, launches, capsys):
    assert main(["demo", "--model", str(tmp_path / "nothing-here")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dfer demo: error: cannot load the model") and "nothing-here" in error
    assert "there is no such folder" in error  # a path is not looked up on the Hub
    assert "Traceback" not in error and launches == []


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "pass --model"),
        (["--model", "m", "--max-video-seconds", "-1"], "--max-video-seconds"),
        (["--model", "m", "--server-port", "70000"], "--server-port"),
    ],
)
def test_usage_errors(argv, message, capsys, launches):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_without_gradio_the_command_says_how_to_install_it(tiny_checkpoint, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    assert main(["demo", "--model", str(tiny_checkpoint)]) == 2
    assert capsys.readouterr().err.strip() == "dfer demo: error: the demo needs Gradio: pip install 'gradio>=6,<7' (dfer's demo extra)."


def test_a_port_in_use_is_one_error_line_before_the_model_loads(tiny_checkpoint, launches, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--model", str(tiny_checkpoint), "--server-port", str(port)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"dfer demo: error: cannot serve the page on 127.0.0.1:{port}: Address already in use")
    assert "--server-port" in error and error.count("\n") == 1 and launches == []  # nothing was loaded


def test_the_command_serves_until_interrupted_and_says_where(tiny_checkpoint, capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    pages = []

    def ctrl_c_while_serving(seconds):  # the command's wait between checks that the server runs
        with urllib.request.urlopen(url, timeout=30) as page:
            pages.append(page.read())
        raise KeyboardInterrupt

    monkeypatch.setattr(dfer.cli.demo, "time", types.SimpleNamespace(sleep=ctrl_c_while_serving))
    assert main(["demo", "--model", str(tiny_checkpoint), "--server-port", str(port)]) == 130
    assert b"dfer: facial expressions over time" in pages[0]
    captured = capsys.readouterr()
    assert f"dfer demo: serving {url} (--share for a public link); Ctrl-C to stop." in captured.out
    assert captured.err.strip().endswith("dfer demo: interrupted.")
    with pytest.raises(OSError):  # the server was closed: nothing answers there any more
        urllib.request.urlopen(url, timeout=5)


def test_the_space_app_builds_the_same_demo_from_its_variables(tiny_checkpoint, monkeypatch, launches):
    monkeypatch.setenv("DFER_MODEL", str(tiny_checkpoint))
    monkeypatch.setenv("DFER_MAX_VIDEO_SECONDS", "30")
    monkeypatch.delenv("DFER_MAX_FILE_SIZE", raising=False)
    space = runpy.run_path(str(SPACE_APP), run_name="__main__")
    assert isinstance(space["demo"], gradio.Blocks) and space["max_seconds"] == 30.0
    assert launches and launches[0][0] is space["demo"]
    assert "Videos up to 30 s long." in str(space["demo"].config)
    assert _picker(space["demo"]).allow_custom_value is False  # visitors cannot make the Space download others
    assert launches[0][1] == {"max_file_size": "200mb"}
    monkeypatch.setenv("DFER_MAX_VIDEO_SECONDS", "two minutes")
    with pytest.raises(SystemExit, match="DFER_MAX_VIDEO_SECONDS must be a number"):
        runpy.run_path(str(SPACE_APP), run_name="__main__")
    monkeypatch.delenv("DFER_MODEL")
    with pytest.raises(SystemExit, match="set DFER_MODEL"):
        runpy.run_path(str(SPACE_APP), run_name="__main__")

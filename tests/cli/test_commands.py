"""The `dfer` command itself: version, the list of subcommands, each subcommand's help with an example, and
usage errors that end in one `error:` line with exit status 2 before any work starts."""

import pytest

from dfer.cli import COMMANDS, main, package_version


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dfer {package_version()}"
    assert package_version() != "unknown"  # the test environment has the package installed


def test_no_command_lists_every_subcommand(capsys):
    assert main([]) == 2
    listed = capsys.readouterr().err
    assert all(f"  {name} " in listed for name in COMMANDS)
    assert main(["--help"]) == 0
    assert "dfer COMMAND --help" in capsys.readouterr().out


def test_unknown_command_is_one_error_line(capsys):
    assert main(["trian"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == ["dfer: error: unknown command 'trian'; choose one of train, evaluate, folds, predict, push, convert."]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_subcommand_help_shows_an_example(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: dfer {name}")
    assert "example" in shown and f"dfer {name}" in shown.split("example", 1)[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "resnet", "--data_dir", "x"], "Unknown model 'resnet'"),
        (["train", "--dataset", "dfew"], "--data_dir is required"),
        (["train", "--dataset", "dfew", "--data_dir", "x", "--fold", "6"], "--fold 6 is not one of: 1, 2, 3, 4, 5"),
        (["train", "--data_dir", "x", "--sampler", "segment_pairs", "--num_frames", "7"], "--num_frames must be even"),
        (["train", "--data_dir", "x", "--model_selection", "best"], "--model_selection 'best' is not one of"),
        (["train", "--data_dir", "x", "--not_a_flag", "1"], "not used by the HfArgumentParser"),
        (["folds", "--dataset", "ferv39k", "--data_dir", "x"], "the fold protocol applies to DFEW"),
        (["evaluate", "--checkpoint", "x", "--dataset", "dfew", "--data_dir", "x", "--fold", "0"], "--fold 0"),
    ],
)
def test_bad_settings_fail_before_any_work_with_one_error_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"dfer {argv[0]}: error: ") and message in error
    assert "Traceback" not in error
    assert list(tmp_path.iterdir()) == []  # nothing was written: no output folder, no generated data


def test_convert_reports_a_missing_checkpoint(tmp_path, capsys):
    assert main(["convert", "--checkpoint", str(tmp_path / "none.pth"), "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("dfer convert: error: ")
    assert not (tmp_path / "out").exists()

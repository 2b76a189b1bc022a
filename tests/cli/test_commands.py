"""The `dfer` command itself: version, the list of subcommands, each subcommand's help with an example, and
usage errors that end in one `error:` line with exit status 2 before any work starts."""

import os
import shutil

import pytest
from training_fixtures import cut_short, tiny_run_argv, write_model_folder

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
    assert errors == ["dfer: error: unknown command 'trian'; choose one of prepare, train, evaluate, folds, predict, demo, export, push, convert."]


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
        (["folds", "--dataset", "dfew", "--data_dir", "x", "--folds", "1", "7"], "--folds 1 7: give distinct folds"),
        (["evaluate", "--checkpoint", "x", "--dataset", "dfew", "--data_dir", "x", "--fold", "0"], "--fold 0"),
        (["train", "--data_dir", "x", "--recipe", "fast"], "Unknown recipe 'fast'"),
        (["train", "--data_dir", "x", "--objective", "focal"], "--objective 'focal' is not one of: ce, ial, compact"),
        (["train", "--data_dir", "x", "--config_overrides", "depths"], "'depths' is not name=value"),
        (["train", "--data_dir", "x", "--sample_clips_per_class", "0", "--dataset", "sample"], "at least 1"),
        (["train", "--data_dir", "x", "--lr_step_epochs", "0"], "--lr_step_epochs must be positive"),
        (["train", "--data_dir", "x", "--auxiliary_weights", "-1", "0"], "must not be negative"),
        (["folds", "--data_dir", "x", "--objective", "focal"], "--objective 'focal'"),
        (["train", "--data_dir", "x", "--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be at least 1"),
        (["train", "--data_dir", "x", "--num_train_epochs", "0"], "--num_train_epochs 0.0 trains nothing"),
        (["train", "--data_dir", "x", "--eval_strategy", "steps"], "--eval_strategy steps needs a split to evaluate"),
        (["evaluate", "--checkpoint", "x", "--dataset", "sample", "--data_dir", "x", "--split", "dev"], "--split 'dev'"),
        (["evaluate", "--checkpoint", "x", "--dataset", "sample", "--data_dir", "x", "--split", "validation"],
         "--split validation is the part of train held out by --model_selection validation"),
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


def fails_with_one_error_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith(f"dfer {argv[0]}: error: ") and message in lines[0], error


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("model") / "checkpoint")


def train_argv(tmp_path, *extra: str) -> list[str]:
    return ["train", *tiny_run_argv(tmp_path / "sample", tmp_path / "out"), *extra]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "dfew"], "--data_dir {tmp}/sample: no such folder (the dfew dataset's root)"),
        (["--annotations", "{tmp}/lists"], "--annotations {tmp}/lists: no such folder"),
        (["--output_dir", "{tmp}/a_file"], "--output_dir {tmp}/a_file is a file, not a folder"),
        (["--output_dir", "{tmp}/a_file/out"], "{tmp}/a_file is a file, so the folder cannot be created"),
        (["--model_name_or_path", "{tmp}/nowhere"], "--model_name_or_path {tmp}/nowhere: no such folder"),
        (["--model_name_or_path", "{tmp}/empty"], "is not a usable checkpoint folder: it has no config.json"),
        (["--resume_from_checkpoint", "{tmp}/nowhere"], "--resume_from_checkpoint {tmp}/nowhere: no such folder"),
        (["--resume_from_checkpoint", "{tmp}/empty"], "is not a complete checkpoint: it has no trainer_state.json"),
        (["--config_overrides", "not_a_setting=1"], "not_a_setting is not a setting of the gca_resnet configuration"),
        (["--config_overrides", "depths=[1,1]"], "need one entry per spatial stage"),
        (["--image_size", "16"], "the gca_resnet configuration refuses these settings (--num_frames, --image_size and "
         "--config_overrides): `image_size` must be at least 32 pixels, got 16."),
        (["--model", "logo_former", "--objective", "ial", "--config_overrides", ""],
         "--objective ial: logo_former has 0 auxiliary head(s) but --auxiliary_weights 0.05 0.0 weights more"),
        (["--config_overrides", "gca_stages=[false,false,false]"], "gca_resnet has 0 auxiliary head(s)"),
    ],
)
def test_bad_paths_and_incompatible_settings_fail_before_any_work(extra, message, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "empty").mkdir()
    before = sorted(tmp_path.iterdir())
    extra = [item.replace("{tmp}", str(tmp_path)) for item in extra]
    fails_with_one_error_line(train_argv(tmp_path, *extra), message.replace("{tmp}", str(tmp_path)), capsys)
    assert sorted(tmp_path.iterdir()) == before  # no output folder, no generated data


def test_a_checkpoint_with_other_frame_settings_is_refused(model_folder, tmp_path, capsys):
    fails_with_one_error_line(
        train_argv(tmp_path, "--model_name_or_path", str(model_folder), "--num_frames", "8"),
        "takes num_frames 4, but the run would feed it 8: pass --num_frames 4",
        capsys,
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission")
def test_an_unwritable_output_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        fails_with_one_error_line(train_argv(tmp_path, "--output_dir", str(locked / "out")), "not writable", capsys)
    finally:
        locked.chmod(0o700)


def evaluate_argv(checkpoint, tmp_path) -> list[str]:
    return ["evaluate", "--checkpoint", str(checkpoint), "--dataset", "sample", "--data_dir", str(tmp_path / "sample"),
            "--output_dir", str(tmp_path / "eval"), "--use_cpu"]  # fmt: skip


def damaged_model(model_folder, tmp_path, damage):
    folder = shutil.copytree(model_folder, tmp_path / "damaged")
    damage(folder)
    return folder


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "config.json").unlink(), "is not a usable checkpoint folder: it has no config.json"),
        (lambda f: (f / "config.json").write_text("{"), "config.json is not valid JSON"),
        (lambda f: cut_short(f / "model.safetensors"), "model.safetensors is damaged or cut short"),
        (lambda f: (f / "model.safetensors").unlink(), "it has no weights (model.safetensors)"),
        (lambda f: (f / "video_preprocessor_config.json").unlink(), "it has no video processor"),
        (lambda f: ((f / "checkpoint-8").mkdir(), (f / "config.json").unlink()),
         "holds Trainer checkpoints such as checkpoint-8"),
        (lambda f: ((f / "trainer_state.json").write_text("{}"), (f / "video_preprocessor_config.json").unlink()),
         "a Trainer checkpoint holds no processor"),
    ],
)
def test_evaluate_refuses_a_broken_checkpoint_before_reading_data(model_folder, damage, message, tmp_path, capsys):
    checkpoint = damaged_model(model_folder, tmp_path, damage)
    fails_with_one_error_line(evaluate_argv(checkpoint, tmp_path), message, capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged"]  # no data generated, nothing written


def test_evaluate_refuses_what_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    fails_with_one_error_line(evaluate_argv(tmp_path / "a_file", tmp_path), "is a file; pass a checkpoint folder", capsys)
    fails_with_one_error_line(evaluate_argv(tmp_path / "nowhere", tmp_path), "nowhere: no such folder", capsys)
    fails_with_one_error_line(evaluate_argv(tmp_path, tmp_path), "is not a usable checkpoint folder", capsys)
    (tmp_path / "eval").write_text("")
    fails_with_one_error_line(evaluate_argv(tmp_path, tmp_path), "--output_dir", capsys)


def test_folds_refuse_an_output_folder_that_is_a_file(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = ["folds", *tiny_run_argv(tmp_path / "sample", tmp_path / "a_file"), "--folds", "1"]
    fails_with_one_error_line(argv, "is a file, not a folder", capsys)


def test_ctrl_c_is_one_line_with_the_way_to_resume(monkeypatch, capsys):
    import dfer.cli.train

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(dfer.cli.train, "main", interrupted)
    assert main(["train", "--data_dir", "x"]) == 130
    assert capsys.readouterr().err == (
        "dfer train: interrupted. Finished checkpoints are kept: rerun with --resume_from_checkpoint last.\n"
    )


@pytest.mark.parametrize("device", ["cuda:0", "not-a-device"])
def test_predict_on_a_device_this_machine_lacks_is_one_error_line(device, tmp_path, capsys):
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    status = main(["predict", "v.mp4", "--model", str(tmp_path / "m"), "--device", device, "--output", str(tmp_path / "o")])
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith(f"dfer predict: error: --device {device}") and "Traceback" not in error

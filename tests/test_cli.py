"""`python -m keras_vae.zoo` end to end, and one clear line + exit 2 for every kind of bad input."""

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest

from keras_vae.catalogue.entries import entry_names, shipped_metrics, zoo_dir

TINY = [
    "--set",
    "dataset=mnist_5k",
    "--set",
    "latent_dim=2",
    "--set",
    "filters=[4, 8]",
    "--set",
    "hidden_dim=16",
    "--set",
    "batch_size=64",
    "--limit",
    "256",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One tiny conv_vae run (1 epoch), trained through the CLI in a subprocess as a user would."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_vae.zoo",
            "train",
            "conv_vae",
            "--epochs",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
            *TINY,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "kl:" in result.stdout and "val_loss:" in result.stdout  # the Keras progress bar
    assert "Traceback" not in result.stderr
    assert [line.split()[-2:] for line in result.stdout.splitlines()[-4:]] == [  # what to try next
        [command, str(out)] for command in ("evaluate", "sample", "plot", "export")
    ]
    return out


def test_train_leaves_a_complete_run_folder(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.keras", "checkpoint.keras", "state.json", "history.json", "logs"} <= names
    assert not [n for n in names if ".tmp" in n]  # atomic writes left nothing behind
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "mnist_5k" and config["seed"] == 3 and config["params"]["latent_dim"] == 2
    assert config["params"]["image_shape"] == [28, 28, 1]  # filled in from the data
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1] and {"loss", "kl", "val_loss"} <= set(history[0])
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))


def test_list_shows_each_entrys_dataset_latent_size_parameters_and_shipped_metrics(cli):
    code, out, _ = cli("list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if not line.startswith(" ")}
    assert rows["entry"][:4] == ["entry", "dataset", "latent", "parameters"]
    assert rows["conv_vae"][:5] == ["conv_vae", "mnist", "16", "886,881", "mnist_5k:"]
    shipped = json.loads((zoo_dir() / "conv_vae" / "pretrained" / "metrics.json").read_text())
    assert f"ELBO {shipped['elbo']:.1f}, IWAE (k = 1000) {shipped['iwae']:.1f}, 16/16 active units" in out
    assert rows["ae"] == ["ae", "mnist", "256", "402,448", "mnist_5k:", "BCE", "58.5,", "MSE", "0.0040"]  # columns
    header, ae = out.splitlines()[0], next(line for line in out.splitlines() if line.startswith("ae "))
    assert header.index("latent") + len("latent") == ae.index("256") + len("256")  # right-aligned numbers
    assert "Convolutional VAE: strided Conv2D encoder" in out  # the description, indented below


def test_list_prints_each_shipped_headline_as_evaluate_stored_it(cli):
    code, out, _ = cli("list")
    assert code == 0
    for name in entry_names():
        metrics = shipped_metrics(name)
        if metrics is not None:
            assert metrics["headline"], name  # every shipped metrics.json states its headline
            assert f"  {metrics['dataset']}: " + ", ".join(metrics["headline"]) in out, name


def test_list_states_a_metrics_json_without_a_headline_generically():
    """A metrics.json written before `evaluate` stored the model's headline."""
    from keras_vae.cli.catalogue import shipped

    assert shipped({"dataset": "mnist", "headline": ["ELBO -96.5", "9/10 active units"], "bce": 1.0, "mse": 0.1}) == (
        "mnist: ELBO -96.5, 9/10 active units"
    )
    assert shipped({"dataset": "mnist", "loss": 80.04, "bce": 58.49, "mse": 0.00399}) == "mnist: BCE 58.5, MSE 0.0040"
    assert shipped({"dataset": "moving_mnist", "loss": 115.42}) == "moving_mnist: loss 115.4"
    assert shipped(None) == "no shipped weights"


def test_list_builds_no_model_and_imports_no_tensorflow():
    code = (
        "import sys; from keras_vae.cli import main; assert main(['list']) == 0; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'list imported TensorFlow'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_ctrl_c_during_train_prints_the_exact_resume_command(cli, tmp_path, monkeypatch):
    from keras_vae.runner import fit

    finished = fit.RunRecorder.on_epoch_end

    def interrupt_after_the_first_epoch(self, epoch, logs=None):
        finished(self, epoch, logs)
        raise KeyboardInterrupt

    out = tmp_path / "my run"
    monkeypatch.setattr(fit.RunRecorder, "on_epoch_end", interrupt_after_the_first_epoch)
    code, _, err = cli("train", "conv_vae", "--epochs", "2", "--out", out, *TINY)
    assert code == 130
    assert f"interrupted: 1 epoch(s) checkpointed in {out}; continue with:" in err
    command = err.strip().splitlines()[-1].strip()
    assert command == f"python -m keras_vae.zoo train --resume '{out}' --limit 256"
    monkeypatch.undo()
    code, _, err = cli(*shlex.split(command)[3:])
    assert code == 0, err
    assert json.loads((out / "state.json").read_text())["epoch"] == 2


def test_evaluate_prints_test_metrics(cli, run_dir):
    code, out, _ = cli("evaluate", run_dir, "--limit", "128")
    assert code == 0 and "mnist_5k" in out
    values = dict(line.split()[:2] for line in out.splitlines()[1:] if len(line.split()) == 2)
    assert float(values["loss"]) == pytest.approx(float(values["reconstruction"]) + float(values["kl"]), rel=1e-4)


def test_sample_twice_writes_a_file_per_setting_and_never_overwrites(cli, run_dir, tmp_path):
    import matplotlib.image

    code, out, err = cli("sample", run_dir, "--n", "16", "--out", tmp_path)
    assert code == 0, err
    first = tmp_path / "samples_seed0_n16.png"
    assert out == f"wrote {first}\n"
    image = matplotlib.image.imread(first)
    # A titled figure like the others: 8 columns x 2 rows of 28 px digits, each upscaled x2.
    assert image.shape[1] >= 8 * 29 * 2 and image.shape[0] > 2 * 29 * 2
    kept = first.read_bytes()
    code, out, err = cli("sample", run_dir, "--n", "16", "--seed", "1", "--out", tmp_path)
    assert code == 0 and out == f"wrote {tmp_path / 'samples_seed1_n16.png'}\n", err
    assert first.read_bytes() == kept
    code, out, err = cli("sample", run_dir, "--n", "16", "--out", tmp_path)  # the same settings again
    assert code == 0 and out == f"already there: {first}\n", err
    first.write_bytes(b"drawn by an earlier model")
    code, _, err = cli("sample", run_dir, "--n", "16", "--out", tmp_path)
    assert code == 2 and "samples_seed0_n16.png" in err and "pass --overwrite" in err
    assert first.read_bytes() == b"drawn by an earlier model"
    code, out, _ = cli("sample", run_dir, "--n", "16", "--out", tmp_path, "--overwrite")
    assert code == 0 and out == f"replaced {first}\n" and first.read_bytes() == kept


def test_resume_continues_to_the_total_epoch_count(cli, run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    code, _, err = cli("train", "--resume", copy, "--epochs", "2", "--limit", "256")
    assert code == 0, err
    history = json.loads((copy / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert json.loads((copy / "state.json").read_text())["epoch"] == 2
    code, _, err = cli("train", "--resume", copy, "--epochs", "2")
    assert code == 2 and "already has 2 of 2 epochs" in err


def _bad_inputs(tmp_path):
    nan = tmp_path / "nan.npz"
    np.savez(nan, x_train=np.full((4, 28, 28), np.nan), x_test=np.zeros((2, 28, 28)))
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt_run"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json")
    broken_model = tmp_path / "broken_model"
    broken_model.mkdir()
    (broken_model / "config.json").write_text("{}")
    (broken_model / "model.keras").write_bytes(b"garbage")
    return [
        (["train", "conv_vea"], "did you mean 'conv_vae'"),
        (["train", "conv_vae", "--set", "dataset=mnsit"], "unknown dataset 'mnsit'"),
        (["train", "conv_vae", "--set", "colour=red"], "unknown setting 'colour'"),
        (["train", "conv_vae", "--set", "latent_dim=two"], "wrong type"),
        (["train", "conv_vae", "--set", "latent_dim=0"], "latent_dim must be an integer >= 1"),
        (["train", "conv_vae", "--epochs", "0"], "--epochs must be >= 1"),
        (["train", "conv_vae", "--set", "batch_size=0"], "batch_size must be an integer >= 1"),
        (
            ["train", "conv_vae", "--set", "dataset=mnist_5k", "--set", "image_shape=[32,32,3]"],
            "has images of shape [28, 28, 1] but the model expects [32, 32, 3]",
        ),
        (["train", "dense_vae", "--set", f"dataset=npz:{nan}"], "NaN or inf"),
        (["train", "dense_vae", "--set", f"dataset=npz:{tmp_path / 'missing.npz'}"], "npz file not found"),
        (["train", "dense_vae", "--set", f"dataset=folder:{empty}"], "0 readable PNG/JPEG"),
        (["train", "dense_vae", "--set", "nonsense"], "--set takes KEY=VALUE"),
        (["evaluate", tmp_path / "no_such_run"], "run folder not found"),
        (["evaluate", empty], "is not a run folder"),
        (["evaluate", corrupt], "corrupt"),
        (["sample", broken_model], "cannot load"),
        (["sample", corrupt, "--n", "0"], "--n must be >= 1"),
        (["train", "--resume", empty], "is not a run folder"),
        (["frobnicate"], "invalid choice"),
    ]


def test_every_bad_input_is_one_line_and_exit_2(cli, tmp_path):
    for args, message in _bad_inputs(tmp_path):
        code, out, err = cli(*args)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2, (args, err)
        assert len(errors) == 1 and message in errors[0], (args, err)
        assert "Traceback" not in err


def test_existing_run_folder_is_never_overwritten_without_the_flag(cli, run_dir, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    code, _, err = cli("train", "conv_vae", "--out", precious, "--overwrite", *TINY)
    assert code == 2 and "not a run folder; refusing" in err
    assert (precious / "thesis.txt").read_text() == "do not delete"
    before = (run_dir / "model.keras").read_bytes()
    code, _, err = cli("train", "conv_vae", "--out", run_dir, *TINY)
    assert code == 2 and "already exists; pass --overwrite" in err
    assert (run_dir / "model.keras").read_bytes() == before


def test_help_works_for_every_command(cli):
    for command in ["list", "train", "evaluate", "sample", "plot", "sweep", "export", "serve-request", "serve-web"]:
        code, out, _ = cli(command, "--help")
        assert code == 0 and "usage:" in out


def test_readme_and_help_say_what_the_commands_take():
    """The README's synopsis lists evaluate's --batch-size and --seed; export's help says an entry
    name works, that --format all is both formats of a part, and what --part defaults to; the
    README's promise that skipped tests say why is kept by -rs in pytest's addopts."""
    import re
    import tomllib
    from pathlib import Path

    from keras_vae.cli import build_parser

    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    synopsis = readme[readme.index("keras-vae evaluate RUN_DIR") : readme.index("keras-vae sample RUN_DIR")]
    assert "[--batch-size N]" in synopsis and "[--seed 0]" in synopsis
    commands = build_parser()._subparsers._group_actions[0].choices
    export_help = " ".join(commands["export"].format_help().split())
    assert "zoo entry name" in export_help and "both formats" in export_help and "td_vae: all" in export_help
    if re.search(r"skip(s|ped)? (and say why|test's reason is printed)", readme):
        addopts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
        assert re.search(r"-r\w*s", addopts)


# Bad names, paths and settings, each answered before TensorFlow is imported: (argv, what the one
# error line says, what it must not say). Run in a fresh process by the test below.
FAST_ANSWERS = [
    (["train", "conv_vea"], "unknown zoo entry 'conv_vea' (did you mean 'conv_vae'?)", None),
    (
        ["train", "conv_vae", "--set", "lr=1e-3"],
        "unknown setting 'lr' for conv_vae (did you mean 'learning_rate'?)",
        None,
    ),
    (["train", "conv_vae", "--set", "bs=32"], "(did you mean 'batch_size'?)", None),
    (["train", "conv_vae", "--set", "z_dim=2"], "(did you mean 'latent_dim'?)", None),
    (["train", "conv_vae", "--set", "epoch=2"], "(did you mean 'epochs'?)", None),
    (["train", "conv_vae", "--set", "laten_dim=2"], "(did you mean 'latent_dim'?)", None),
    (["train", "conv_vae", "--set", "latent_dim=two"], "wrong type", None),
    (["train", "conv_vae", "--set", "learning_rate=-1"], "learning_rate must be finite and > 0", None),
    (["train", "conv_vae", "--set", "learning_rate_schedule=cos"], "learning_rate_schedule must be one of", None),
    (["train", "conv_vae", "--set", "dataset=mnsit"], "unknown dataset 'mnsit' (did you mean 'mnist'?)", None),
    (["train", "conv_vae", "--set", "dataset=npz:missing.npz"], "npz file not found: missing.npz", None),
    (["train", "--resume", "runs/conv_vae/nope"], "run folder not found: runs/conv_vae/nope", "did you mean"),
    (["train", "--resume", "runs/ae"], "runs/ae is not a run folder but holds 2 runs; pass one of them:", None),
    (["evaluate", "runs/conv_vae/nope"], "run folder not found: runs/conv_vae/nope", "did you mean"),
    (["evaluate", "./conv_vae"], "run folder not found: ./conv_vae", "did you mean"),
    (["evaluate", "conv_vea"], "(did you mean 'conv_vae'?)", None),
    (["evaluate", "runs/ae", "--dataset", "mnsit"], "unknown dataset 'mnsit' (did you mean 'mnist'?)", None),
    (["evaluate", "conv_vae", "--dataset", "fashion"], "(did you mean 'fashion_mnist'?)", None),
    (["sample", "nope/"], "run folder not found: nope/", "did you mean"),
    (["plot", "runs/dense_vae"], "run folder not found: runs/dense_vae", None),
    (["export", "runs/ae/nope"], "run folder not found", "did you mean"),
    (["serve-web", "runs/nope"], "run folder not found", None),
    (["serve-request", "m", "--latent-dim", "2", "--out", "runs"], "--out runs is a folder", None),
    (["sweep", "conv_vea", "--latent-dims", "2,3"], "did you mean 'conv_vae'", None),
]


def test_bad_names_paths_and_settings_are_answered_before_tensorflow_is_imported(tmp_path):
    """Each bad input is one `error:` line and exit 2 from `main`, and TensorFlow was never
    imported (what makes the answer take well under a second instead of the import's 5+)."""
    for stamp in ("20260101-000000", "20260102-000000"):  # a folder of runs, as `train` leaves them
        (tmp_path / "runs" / "ae" / stamp).mkdir(parents=True)
        (tmp_path / "runs" / "ae" / stamp / "config.json").write_text("{}")
    (tmp_path / "runs" / "ae" / "20260102-000000" / "metrics.json").write_text('{"dataset": "mnist"}')
    code = f"""
import contextlib, io, json, sys, time
from keras_vae.cli import main
answers = []
for argv in {[argv for argv, _, _ in FAST_ANSWERS]!r}:
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    answers.append((code, err.getvalue(), time.perf_counter() - start))
print(json.dumps({{"answers": answers, "tensorflow": "tensorflow" in sys.modules}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for (argv, says, never), (code, err, _) in zip(FAST_ANSWERS, report["answers"], strict=True):
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and says in errors[0], (argv, err)
        assert never is None or never not in err, (argv, err)
        assert "Traceback" not in err
    assert not report["tensorflow"], "a bad input was answered only after importing TensorFlow"
    argvs = [argv for argv, _, _ in FAST_ANSWERS]
    evaluate_latest = report["answers"][argvs.index(["evaluate", "runs/ae", "--dataset", "mnsit"])][1]
    assert "runs/ae holds 2 runs; using the latest, runs/ae/20260102-000000" in evaluate_latest


def test_a_folder_of_runs_stands_for_its_latest_run_and_a_run_folder_for_itself(tmp_path, capsys):
    from keras_vae.cli.common import run_folder

    for stamp in ("20260103-000000", "20251231-235959"):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / "config.json").write_text("{}")
    assert run_folder(str(tmp_path)) == str(tmp_path / "20260103-000000")
    assert capsys.readouterr().err == f"{tmp_path} holds 2 runs; using the latest, {tmp_path / '20260103-000000'}\n"
    assert run_folder(str(tmp_path / "20251231-235959")) == str(tmp_path / "20251231-235959")
    assert capsys.readouterr().err == ""


def test_version_prints_the_package_version_without_tensorflow():
    code = (
        "import sys; from keras_vae.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "assert 'tensorflow' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import keras_vae

    assert result.stdout == f"keras-vae {keras_vae.__version__}\n"


def test_help_lists_every_command_with_a_one_line_description(cli):
    from keras_vae.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    described = {action.dest: action.help for action in commands._choices_actions}
    assert set(described) == set(commands.choices), "a command without help= is missing from --help"
    code, out, _ = cli("--help")
    assert code == 0 and "--version" in out
    flowing = " ".join(out.split())
    for name, text in described.items():
        assert text and len(text) <= 60, (name, "help= fits one line of an 80-column --help")
        assert f"{name} {text}" in flowing, (name, out)


def test_the_latest_run_is_one_with_a_model_and_the_kept_table_prints_with_the_judges_numbers(tmp_path):
    from keras_vae.cli.evaluate import format_metrics
    from keras_vae.runner import runs

    for stamp, files in (("20260101-000000", ["config.json", "model.keras"]), ("20260102-000000", ["config.json"])):
        for name in files:  # the newer run stopped (diverged) before its first checkpoint
            (tmp_path / stamp).mkdir(exist_ok=True)
            (tmp_path / stamp / name).write_text("{}")
    assert runs.latest_run(tmp_path) == tmp_path / "20260101-000000"
    metrics = {
        "dataset": "mnist_5k",
        "split": "test",
        "split_examples": 2,
        "units": "nats per example",
        "likelihood": "bernoulli",
        "binarization": "none",
        "elbo": -110.5,
        "sample_quality": {"frechet_distance": 41.3},  # written by `judge`
    }
    table = format_metrics(metrics)
    assert "elbo" in table and "frechet" not in table

"""Strategies and XLA: bad combinations refused, mirrored training equal to single-device training
on two logical CPUs, two multi-worker processes on 127.0.0.1 ending with identical weights.

Anything that needs several devices or TF_CONFIG runs in subprocesses: logical devices and the
collective runtime must be set up before TensorFlow initializes, which pytest's process has done.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_vae.core.errors import UserError
from keras_vae.runner import builder, distribute, fit, loading, runs
from keras_vae.runner.config import resolve

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "helpers"
QUICK = ("--epochs", "1", "--limit", "64", "--set", "dataset=mnist_5k")


def subprocess_env(**extra):
    env = {**os.environ, "KERAS_VAE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize(
    "args, message",
    [
        (("--jit-compile", "--strategy", "mirrored"), "jit_compile (XLA) works only for single-device"),
        (("--set", "precision=float16"), "precision must be one of float32, mixed_float16, mixed_bfloat16"),
        (("--steps-per-execution", "0"), "--steps-per-execution must be >= 1"),
        (("--steps-per-execution", "8", "--strategy", "mirrored"), "steps_per_execution 8 fails under strategy"),
        (("--set", "jit_compile=1"), "jit_compile='1' has the wrong type: expected bool"),
    ],
)
def test_bad_options_are_one_line_errors(cli, tmp_path, args, message):
    code, _, err = cli("train", "dense_vae", *args, *QUICK, "--out", tmp_path / "run")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "tf_config, seed, message",
    [
        (None, "1", "needs TF_CONFIG"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}', "1", "one task"),
        ('{"cluster": ["127.0.0.1:1"]}', "1", "must be JSON with 'cluster' and 'task'"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}', None, "needs --seed"),
    ],
)
def test_multi_worker_needs_a_cluster_and_a_seed(cli, tmp_path, monkeypatch, tf_config, seed, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    seed_args = ("--seed", seed) if seed else ()
    code, _, err = cli("train", "dense_vae", "--strategy", "multi_worker", *seed_args, *QUICK, "--out", tmp_path / "r")
    assert code == 2 and message in err


def test_jit_compile_and_steps_per_execution_reach_compile():
    model = builder.build("dense_vae", dataset="mnist_5k", jit_compile=True, steps_per_execution=4)
    assert model.jit_compile is True and model.steps_per_execution == 4
    default = builder.build("dense_vae", dataset="mnist_5k")
    assert default.jit_compile is False and default.steps_per_execution == distribute.SINGLE_DEVICE_STEPS
    assert distribute.steps_per_execution(dataclasses.replace(resolve("dense_vae"), strategy="mirrored")) == 1


@pytest.mark.parametrize("steps_per_execution", [2, 3])  # divides the 4 steps of an epoch, or not
def test_epochs_have_exactly_their_steps(tmp_path, steps_per_execution):
    from keras_vae.runner import train

    overrides = {
        "dataset": "mnist_5k",
        "epochs": 2,
        "batch_size": 64,
        "hidden_sizes": [32],
        "steps_per_execution": steps_per_execution,
    }
    model, _ = train.train("dense_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=256)
    assert int(model.optimizer.iterations.numpy()) == 2 * 256 // 64


def test_an_epoch_shorter_than_the_automatic_steps_per_call_is_one_call(tmp_path):
    from keras_vae.runner import train

    overrides = {"dataset": "mnist_5k", "epochs": 2, "batch_size": 64, "hidden_sizes": [32]}
    model, _ = train.train("dense_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=320)
    assert model.steps_per_execution == 5 < distribute.SINGLE_DEVICE_STEPS  # 320 / 64 steps an epoch
    assert int(model.optimizer.iterations.numpy()) == 2 * 5


@pytest.mark.parametrize(
    "steps, expected", [(113, 113), (29, 29), (1875, 25), (200, 25), (57, 19), (469, 32), (96, 32)]
)
def test_automatic_steps_per_call_divide_the_epoch_when_they_can(steps, expected):

    assert fit.steps_per_call(steps, 32) == expected
    model = builder.build("dense_vae", dataset="mnist_5k", hidden_sizes=[8])
    import tensorflow as tf

    dataset, steps_per_epoch = fit.feed(model, tf.data.Dataset.range(steps).batch(1), automatic=True)
    # Dividing: one repeated iterator for the run; else (469 steps) the epoch restarts its input.
    assert model.steps_per_execution == expected
    assert steps_per_epoch == (steps if steps % expected == 0 else None)


@pytest.mark.slow
def test_xla_training_matches_plain_training(mnist_5k):
    import keras
    import tensorflow as tf

    losses = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = builder.build("dense_vae", dataset="mnist_5k", jit_compile=jit, seed=5, hidden_sizes=[64])
        batches = tf.data.Dataset.from_tensor_slices(mnist_5k.x_train[:256]).batch(64)
        losses[jit] = model.fit(batches, epochs=2, verbose=0, shuffle=False).history["loss"]
    assert np.all(np.isfinite(losses[True]))
    # XLA rounds (and may draw noise) its own way: the second epoch's loss must match, to a small
    # fraction of how far training moved it.
    progress = losses[False][0] - losses[False][1]
    assert progress > 10
    assert abs(losses[True][1] - losses[False][1]) < 0.1 * progress


def test_fused_adam_matches_keras_adam(mnist_5k):
    import keras
    import tensorflow as tf

    from keras_vae.runner.optimizers import FusedAdam

    weights = []
    for optimizer in (keras.optimizers.Adam, FusedAdam):
        keras.utils.set_random_seed(0)
        model = builder.build("dense_vae", compile=False, dataset="mnist_5k", seed=1, hidden_sizes=[32])
        model.compile(optimizer=optimizer(1e-3))
        model.fit(
            tf.data.Dataset.from_tensor_slices(mnist_5k.x_train[:128]).batch(32), epochs=2, verbose=0, shuffle=False
        )
        weights.append(model.get_weights())
    assert isinstance(builder.build("dense_vae", dataset="mnist_5k").optimizer, FusedAdam)
    # 8 Adam steps of up to 1e-3 each; the two differ by float rounding only. (Under XLA the
    # fused kernel is covered by test_xla_training_matches_plain_training.)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(*weights)) < 1e-5


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step():
    done = subprocess.run(
        [sys.executable, str(HELPERS / "mirrored_check.py")],
        capture_output=True,
        text=True,
        timeout=240,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["replicas"] == 2
    # SGD: one step on 16 images; then 16 + an unevenly split 5. Then one fused-Adam step, whose
    # division by sqrt(v) magnifies rounding in near-zero gradients.
    for step, tolerance in zip(report["fits"], (1e-6, 1e-6, 1e-5)):
        assert step["max_update"] > 1e-4  # the step moved the weights...
        assert step["max_weight_difference"] < tolerance  # ...as on one device
        assert step["max_replica_difference"] == 0  # ...and on every replica alike
        for name, value in step["logs_single"].items():
            assert step["logs_mirrored"][name] == pytest.approx(value, rel=1e-6)
    first, second = report["noise_per_replica"]
    assert not np.allclose(first, second)  # each replica draws its own noise
    assert report["uneven_batch_error"].startswith("batch_size 15 does not split evenly across 2 replicas")


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_finish_with_identical_weights(tmp_path):
    """Also covers Keras 3.15's failures to reduce scalar step logs, and to build from a first
    dict batch, across workers: the conditional VAE's batches carry images and labels."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        command = [
            sys.executable,
            "-m",
            "keras_vae.zoo",
            "train",
            "cvae",
            "--strategy",
            "multi_worker",
            "--seed",
            "1",
            "--epochs",
            "2",
            "--limit",
            "301",
            "--set",
            "dataset=mnist_5k",
            "--set",
            "filters=[4,8]",
            "--set",
            "hidden_dim=16",
            "--out",
            str(tmp_path / f"worker{index}"),
        ]
        processes.append(
            subprocess.Popen(
                command,
                env=subprocess_env(TF_CONFIG=tf_config),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=240)[0] for p in processes]  # a lost peer must not hang the suite
    finally:
        for p in processes:
            p.kill()
    for p, output in zip(processes, outputs):
        assert p.returncode == 0, output[-3000:]
    models = [loading.load_run_model(tmp_path / f"worker{i}") for i in range(2)]
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(a, b)
    histories = [runs.read_json(tmp_path / f"worker{i}" / runs.HISTORY) for i in range(2)]
    assert [h["loss"] for h in histories[0]] == [h["loss"] for h in histories[1]]
    assert np.isfinite(histories[0][-1]["loss"])


def test_strategy_for_rejects_unknown_names():
    with pytest.raises(UserError, match="strategy must be one of"):
        distribute.make_strategy("tpu")

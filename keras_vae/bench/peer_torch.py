"""The PyTorch peers the bench compares against, run by path under a Python that has torch and
pythae (keras_vae never imports this file, and its requirements leave both out):

    PYTHON peer_torch.py pythae_steady DIGITS.npz OUT.json [--epochs N] [--batch B]
    PYTHON peer_torch.py pythae_run DIGITS.npz OUT.json [--epochs N]
    PYTHON peer_torch.py torch_conv DIGITS.npz OUT.json [--epochs N] [--batch B]

DIGITS.npz holds float32 images in [0, 1]: "train" [N, 28, 28, 1] and "validation".
- pythae_steady: pythae's default MLP VAE (784-512-16) through pythae's own trainer, Adam at
  conv_vae's learning rate, `--batch` images a step; per-epoch seconds.
- pythae_run: pythae's TrainingPipeline as its README shows it, every setting at its default
  but the epochs, with the validation digits as its eval set (the bench times the process).
- torch_conv: conv_vae's networks and Bernoulli ELBO hand-written in eager PyTorch; per-epoch
  seconds.
"""

import argparse
import json
import tempfile
import time

import numpy as np


class EpochTimes:
    """Seconds of every epoch (a pythae TrainingCallback; made when pythae is imported)."""

    def __init__(self):
        self.seconds = []

    def on_epoch_begin(self, training_config, **kwargs):
        self._started = time.perf_counter()

    def on_epoch_end(self, training_config, **kwargs):
        self.seconds.append(time.perf_counter() - self._started)


def pythae_model():
    from pythae.models import VAE, VAEConfig

    return VAE(model_config=VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))


def channels_first(images):
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def pythae_steady(digits, epochs, batch):
    from pythae.data.preprocessors import DataProcessor
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    clock = type("Clock", (EpochTimes, TrainingCallback), {})()
    processor = DataProcessor()  # as pythae's TrainingPipeline turns arrays into its dataset
    dataset = processor.to_dataset(processor.process_data(channels_first(digits["train"])))
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(
            output_dir=out, num_epochs=epochs, per_device_train_batch_size=batch, learning_rate=1e-3, no_cuda=True
        )
        trainer = BaseTrainer(pythae_model(), train_dataset=dataset, training_config=config, callbacks=[clock])
        trainer.train()
    return {"epoch_seconds": clock.seconds}


def pythae_run(digits, epochs):
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    with tempfile.TemporaryDirectory() as out:
        pipeline = TrainingPipeline(
            model=pythae_model(), training_config=BaseTrainerConfig(output_dir=out, num_epochs=epochs)
        )
        pipeline(train_data=channels_first(digits["train"]), eval_data=channels_first(digits["validation"]))
    return {}


def conv_vae_twin():
    """conv_vae's encoder and decoder (filters 32, 64; kernel 3; hidden 128; latent 16)."""
    from torch import nn

    encoder = nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 2 * 16),
    )
    decoder = nn.Sequential(
        nn.Linear(16, 128),
        nn.ReLU(),
        nn.Linear(128, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),
    )
    return encoder, decoder


def torch_conv(digits, epochs, batch):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    encoder, decoder = conv_vae_twin()
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
    images = torch.from_numpy(channels_first(digits["train"]))
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(images))  # a fresh shuffle every epoch, as ours
        for start in range(0, len(images), batch):
            x = images[order[start : start + batch]]
            mean, log_var = encoder(x).chunk(2, dim=1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            logits = decoder(z)
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
            kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1)
            optimizer.zero_grad()
            (nll + kl).mean().backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    return {"epoch_seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="peer_torch.py")
    parser.add_argument("mode", choices=("pythae_steady", "pythae_run", "torch_conv"))
    parser.add_argument("digits")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    digits = dict(np.load(args.digits))
    if args.mode == "pythae_run":
        result = pythae_run(digits, args.epochs)
    else:
        result = globals()[args.mode](digits, args.epochs, args.batch)
    import torch

    result.update(train_images=len(digits["train"]), torch=torch.__version__, threads=torch.get_num_threads())
    with open(args.out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()

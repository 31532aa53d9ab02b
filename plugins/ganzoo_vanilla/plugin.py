"""Registers the vanilla GAN's components and the ``vanilla-mnist`` preset."""

from __future__ import annotations

from ganzoo import ComponentRef, Preset, TrainSettings, hookimpl

from .evaluator import SmallCNN
from .losses import NonSaturatingBCE
from .mnist import MNIST
from .models import MLPDiscriminator, MLPGenerator

VANILLA_MNIST = Preset(
    name="vanilla-mnist",
    summary="The tutorial's MLP GAN on MNIST: Adam 3e-4, batch 64, z 64, 101 epochs, flips.",
    generator=ComponentRef("mlp", {"z_dim": 64, "out_shape": [1, 28, 28]}),
    discriminator=ComponentRef("mlp", {"in_shape": [1, 28, 28]}),
    loss=ComponentRef("bce"),
    dataset=ComponentRef("mnist"),
    train=TrainSettings(batch_size=64, epochs=101, lr_g=3e-4, lr_d=3e-4, hflip=True,
                        sample_every=50),
)


@hookimpl
def ganzoo_register_generators(register):
    register("mlp", MLPGenerator, summary="MLP generator (the tutorial's 256-512 layout)")


@hookimpl
def ganzoo_register_discriminators(register):
    register("mlp", MLPDiscriminator, summary="MLP discriminator (256-128), logits")


@hookimpl
def ganzoo_register_losses(register):
    register("bce", NonSaturatingBCE, summary="non-saturating BCE (the original GAN loss)",
             aliases=("non-saturating", "vanilla"))


@hookimpl
def ganzoo_register_datasets(register):
    register("mnist", MNIST, summary="MNIST digits, 60,000 train / 10,000 test, 1x28x28")


@hookimpl
def ganzoo_register_evaluators(register):
    register("small-cnn", SmallCNN, summary="2-conv CNN classifier; scores samples of 28x28 data")


@hookimpl
def ganzoo_register_presets(register):
    register(VANILLA_MNIST)

"""Registers the classic variants and their presets.

Each preset's summary says where its settings come from. Epoch counts are ours: chosen so a
full run finishes in minutes to an hour on a 2-core CPU (the papers trained far longer).
"""

from __future__ import annotations

from ganzoo import ComponentRef, Preset, TrainSettings, hookimpl

from .evaluator import FashionCNN
from .fashion import FashionMNIST
from .losses import Hinge, LeastSquares, WassersteinGP
from .models import (
    ConditionalMLPGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    ProjectionMLPDiscriminator,
)

MNIST_SHAPE = [1, 28, 28]
# Radford et al. 2016: Adam lr 2e-4, beta1 0.5, batch 128, z 100.
DCGAN_TRAIN = TrainSettings(batch_size=128, epochs=5, lr_g=2e-4, lr_d=2e-4, beta1=0.5,
                            sample_every=1)


BCE = ComponentRef("bce")


def _dcgan(name: str, summary: str, dataset: str = "mnist", d_norm: str = "batch",
           loss: ComponentRef = BCE, train: TrainSettings = DCGAN_TRAIN) -> Preset:
    return Preset(
        name=name, summary=summary,
        generator=ComponentRef("dcgan", {"z_dim": 100, "out_shape": MNIST_SHAPE}),
        discriminator=ComponentRef("dcgan", {"in_shape": MNIST_SHAPE, "norm": d_norm}),
        loss=loss, dataset=ComponentRef(dataset), train=train,
    )


def _vanilla(name: str, summary: str, dataset: str) -> Preset:
    return Preset(
        name=name, summary=summary,
        generator=ComponentRef("mlp", {"z_dim": 64, "out_shape": MNIST_SHAPE}),
        discriminator=ComponentRef("mlp", {"in_shape": MNIST_SHAPE}),
        loss=BCE, dataset=ComponentRef(dataset),
        train=TrainSettings(batch_size=64, epochs=101, lr_g=3e-4, lr_d=3e-4, hflip=True,
                            sample_every=50),
    )


PRESETS = (
    _dcgan("dcgan-mnist", "DCGAN (Radford et al. 2016) on MNIST: conv G/D with batch norm, "
           "BCE, Adam 2e-4 beta1 0.5, batch 128, z 100, N(0, 0.02) init; 5 epochs."),
    _dcgan("lsgan-mnist", "LSGAN (Mao et al. 2017) on MNIST: least-squares loss (a=0, b=c=1) "
           "on the DCGAN models, Adam 2e-4 beta1 0.5, batch 64; 5 epochs.",
           loss=ComponentRef("lsgan"),
           train=TrainSettings(batch_size=64, epochs=5, lr_g=2e-4, lr_d=2e-4, beta1=0.5,
                               sample_every=1)),
    _dcgan("hinge-dcgan-mnist", "Hinge loss with a spectrally normalised DCGAN D (Miyato et "
           "al. 2018, setting C: Adam 2e-4, beta1 0.5, beta2 0.999, batch 64) on MNIST; "
           "5 epochs.", d_norm="spectral", loss=ComponentRef("hinge"),
           train=TrainSettings(batch_size=64, epochs=5, lr_g=2e-4, lr_d=2e-4, beta1=0.5,
                               sample_every=1)),
    _dcgan("wgan-gp-mnist", "WGAN-GP (Gulrajani et al. 2017, Algorithm 1: lambda 10, 5 critic "
           "updates per G update, Adam 1e-4, beta1 0, beta2 0.9, batch 64, layer norm in the "
           "critic) on the DCGAN models, MNIST; 10 epochs (1,870 G updates).",
           d_norm="layer", loss=ComponentRef("wgan-gp", {"weight": 10.0}),
           train=TrainSettings(batch_size=64, epochs=10, lr_g=1e-4, lr_d=1e-4, beta1=0.0,
                               beta2=0.9, n_critic=5, sample_every=2)),
    Preset(
        name="cgan-mnist",
        summary="Class-conditional MLP GAN on MNIST: G on [z, label embedding] (Mirza & "
                "Osindero 2014), projection D (Miyato & Koyama 2018), the tutorial's Adam "
                "3e-4 and batch 64, no flips, generator EMA 0.999; 30 epochs. Draw a digit: "
                "ganzoo sample RUN --class 7.",
        generator=ComponentRef("cond-mlp", {"z_dim": 64, "out_shape": MNIST_SHAPE,
                                            "num_classes": 10}),
        discriminator=ComponentRef("projection-mlp", {"in_shape": MNIST_SHAPE,
                                                      "num_classes": 10}),
        loss=BCE, dataset=ComponentRef("mnist"),
        train=TrainSettings(batch_size=64, epochs=30, lr_g=3e-4, lr_d=3e-4, sample_every=5,
                            ema=0.999),
    ),
    Preset(
        name="cdcgan-mnist",
        summary="Class-conditional DCGAN on MNIST: G on [z, label embedding], D with a "
                "projection head (Miyato & Koyama 2018), DCGAN settings (Adam 2e-4 beta1 0.5, "
                "batch 128, z 100); 5 epochs. Draw a digit: ganzoo sample RUN --class 7.",
        generator=ComponentRef("dcgan", {"z_dim": 100, "out_shape": MNIST_SHAPE,
                                         "num_classes": 10}),
        discriminator=ComponentRef("dcgan", {"in_shape": MNIST_SHAPE, "num_classes": 10}),
        loss=BCE, dataset=ComponentRef("mnist"), train=DCGAN_TRAIN,
    ),
    _vanilla("vanilla-fashion-mnist", "The tutorial's MLP GAN and settings (Adam 3e-4, batch "
             "64, z 64, flips, 101 epochs) on Fashion-MNIST.", "fashion-mnist"),
    _dcgan("dcgan-fashion-mnist", "DCGAN (Radford et al. 2016: Adam 2e-4 beta1 0.5, batch 128, "
           "z 100) on Fashion-MNIST; 5 epochs.", dataset="fashion-mnist"),
)


@hookimpl
def ganzoo_register_generators(register):
    register("dcgan", DCGANGenerator,
             summary="DCGAN conv generator (batch norm, ReLU, tanh); num_classes=N conditions")
    register("cond-mlp", ConditionalMLPGenerator,
             summary="class-conditional MLP generator: [z, label embedding] -> image")


@hookimpl
def ganzoo_register_discriminators(register):
    register("dcgan", DCGANDiscriminator,
             summary="DCGAN conv discriminator; norm=batch|layer|spectral|none, num_classes=N")
    register("projection-mlp", ProjectionMLPDiscriminator,
             summary="class-conditional MLP discriminator with a projection head")


@hookimpl
def ganzoo_register_losses(register):
    register("lsgan", LeastSquares, summary="least squares (LSGAN)", aliases=("least-squares",))
    register("hinge", Hinge, summary="hinge loss (SN-GAN)")
    register("wgan-gp", WassersteinGP,
             summary="Wasserstein loss with gradient penalty; weight=10")


@hookimpl
def ganzoo_register_datasets(register):
    register("fashion-mnist", FashionMNIST,
             summary="Fashion-MNIST clothing, 60,000 train / 10,000 test, 1x28x28")


@hookimpl
def ganzoo_register_evaluators(register):
    register("fashion-cnn", FashionCNN, summary="2-conv CNN classifier for Fashion-MNIST")


@hookimpl
def ganzoo_register_presets(register):
    for preset in PRESETS:
        register(preset)

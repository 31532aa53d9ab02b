"""Registers the classic variants' components: DCGAN models, the class-conditional MLPs,
three more losses and Fashion-MNIST. Their presets are files in the top-level ``registry/``
catalogue."""

from __future__ import annotations

from ganzoo import hookimpl

from .evaluator import FashionCNN
from .fashion import FashionMNIST
from .losses import Hinge, LeastSquares, WassersteinGP
from .models import (
    ConditionalMLPGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    ProjectionMLPDiscriminator,
)

ganzoo_requires = ("vanilla",)  # the Fashion-MNIST evaluator builds on vanilla's CNN


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

"""Registers the vanilla GAN's components; its preset, ``vanilla-mnist``, is a file in the
top-level ``registry/`` catalogue."""

from __future__ import annotations

import ganzoo
from ganzoo import hookimpl

from .evaluator import SmallCNN
from .losses import NonSaturatingBCE
from .mnist import MNIST
from .models import MLPDiscriminator, MLPGenerator


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
def ganzoo_register_optimizers(register):
    register("adam", ganzoo.fused_adam, summary="Adam on torch's fused kernel, called directly "
                                                "(what a preset naming no optimizer gets)")

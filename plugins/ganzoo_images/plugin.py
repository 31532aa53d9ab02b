"""Registers image folders, CIFAR-10/100 and their evaluator CNN."""

from __future__ import annotations

from ganzoo import hookimpl

from .cifar import CIFAR10, CIFAR100
from .evaluator import ConvNet
from .folder import ImageFolder


@hookimpl
def ganzoo_register_datasets(register):
    register("image-folder", ImageFolder,
             summary="your own images: path=DIR or .zip, resolution=64, channels=3, "
                     "labels=none|folders")
    register("cifar10", CIFAR10, summary="CIFAR-10, 50,000 train / 10,000 test, 3x32x32")
    register("cifar100", CIFAR100,
             summary="CIFAR-100 (fine labels), 50,000 train / 10,000 test, 3x32x32")


@hookimpl
def ganzoo_register_evaluators(register):
    register("cnn", ConvNet, summary="3-stage conv classifier for colour images of any size "
                                     "(CIFAR, labelled folders)")

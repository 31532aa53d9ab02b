"""Registers pix2pix's and CycleGAN's networks, objectives and datasets. Their presets are
files in the top-level ``registry/`` catalogue."""

from __future__ import annotations

from ganzoo import hookimpl

from .folders import PairedFolder, UnpairedFolder
from .mnist import EdgesToMNIST, RestyledMNIST
from .models import PatchDiscriminator, ResNetTranslator, UNetTranslator
from .objectives import CycleGAN, Pix2Pix
from .papers import Facades, HorseToZebra, Maps

ganzoo_requires = ("vanilla",)  # the digits and their evaluator are vanilla's MNIST's


@hookimpl
def ganzoo_register_generators(register):
    register("unet", UNetTranslator,
             summary="pix2pix's U-Net translator: width=64, dropout=0.5, "
                     "directions=AB|both")
    register("resnet-translator", ResNetTranslator,
             summary="CycleGAN's ResNet translator: width=64, blocks=6 (9 at "
                     "256 px), directions=both|AB")


@hookimpl
def ganzoo_register_discriminators(register):
    register("patchgan", PatchDiscriminator,
             summary="PatchGAN (70x70 with layers=3): a logit per patch; judge=pair "
                     "(pix2pix) | domains (CycleGAN's D per domain)")


@hookimpl
def ganzoo_register_losses(register):
    register("pix2pix", Pix2Pix, summary="pix2pix: conditional GAN on (source, image) + L1 "
                                         "to the target; l1=100")
    register("cyclegan", CycleGAN,
             summary="CycleGAN: least squares per domain + cycle (10) + identity (0.5 x "
                     "cycle); pool=50 earlier fakes for D")


@hookimpl
def ganzoo_register_datasets(register):
    register("edges2mnist", EdgesToMNIST,
             summary="paired: MNIST digits' outlines (A) to the digits (B), 2x32x32")
    register("mnist-restyle", RestyledMNIST,
             summary="unpaired: MNIST digits (A), other digits thickened (B), 2x32x32")
    register("paired-folder", PairedFolder,
             summary="your image pairs: path=DIR of A|B files side by side (or A/, B/ "
                     "folders), train/ and test/ or val/ optional; resolution=256, channels=3")
    register("facades", Facades, summary="pix2pix's facades: label maps to photos, 256 px "
                                          "(fetched into the data root)")
    register("maps", Maps, summary="pix2pix's maps: aerial photos to maps, 256 px (fetched)")
    register("horse2zebra", HorseToZebra,
             summary="CycleGAN's horses and zebras, unpaired, 256 px (fetched)")
    register("unpaired-folder", UnpairedFolder,
             summary="your two domains: path=DIR with trainA/, trainB/ (testA/, testB/); "
                     "resolution=256, channels=3")

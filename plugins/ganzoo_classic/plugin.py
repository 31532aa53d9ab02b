"""Registers the classic variants' components: DCGAN models, the class-conditional MLPs,
three more losses and Fashion-MNIST. Their presets are files in the top-level ``registry/``
catalogue."""

from __future__ import annotations

from ganzoo import NoDiscriminator, hookimpl

from .augment import DiffAugment
from .coupled import CoupledDiscriminator, CoupledGenerator, CoupledMNIST
from .evaluator import FashionCNN
from .fashion import FashionMNIST
from .losses import DRAGAN, BoundarySeeking, Hinge, LeastSquares, WassersteinDiv, WassersteinGP
from .models import (
    AutoencoderDiscriminator,
    ConditionalMLPGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    InfoGANGenerator,
    ProjectionMLPDiscriminator,
)
from .objectives import (
    BEGAN,
    EBGAN,
    WGAN,
    AdversarialAutoencoder,
    AuxiliaryClassifier,
    ClusterGAN,
    InfoGAN,
    RelativisticAverage,
    RelativisticPairing,
    SemiSupervised,
    SoftmaxGAN,
)
from .optimizers import rmsprop, sgd
from .r3gan import R3GANDiscriminator, R3GANGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator
from .schedules import CosineDecay, LinearDecay, StepDecay, Warmup

ganzoo_requires = ("vanilla",)  # the Fashion-MNIST evaluator builds on vanilla's CNN


@hookimpl
def ganzoo_register_generators(register):
    register("dcgan", DCGANGenerator,
             summary="DCGAN conv generator (batch norm, ReLU, tanh); num_classes=N conditions")
    register("cond-mlp", ConditionalMLPGenerator,
             summary="class-conditional MLP generator: [z, label embedding] -> image")
    register("infogan", InfoGANGenerator,
             summary="DCGAN generator fed [z, one-hot c1, continuous c2...] (InfoGAN codes)")
    register("resnet", ResNetGenerator,
             summary="SN-GAN's ResNet generator (Miyato et al. 2018): up-blocks, width=256")
    register("coupled", CoupledGenerator,
             summary="CoGAN: two DCGAN-style generators sharing their first layers; the "
                     "domains side by side")
    register("r3gan", R3GANGenerator,
             summary="R3GAN's generator (Huang et al. 2024): normalisation-free ResNeXt "
                     "stages; widths, cardinality, blocks, expansion")


@hookimpl
def ganzoo_register_discriminators(register):
    register("dcgan", DCGANDiscriminator,
             summary="DCGAN conv discriminator; norm=batch|layer|spectral|none, num_classes=N")
    register("projection-mlp", ProjectionMLPDiscriminator,
             summary="class-conditional MLP discriminator with a projection head")
    register("autoencoder", AutoencoderDiscriminator,
             summary="conv autoencoder D (EBGAN, BEGAN): energy=l2|l1 reconstruction error")
    register("resnet", ResNetDiscriminator,
             summary="SN-GAN's ResNet discriminator, spectrally normalised; width=128")
    register("coupled", CoupledDiscriminator,
             summary="CoGAN: two conv discriminators sharing their last layers; a logit "
                     "per domain")
    register("r3gan", R3GANDiscriminator,
             summary="R3GAN's discriminator: normalisation-free ResNeXt stages, G's mirror")
    register("objective-networks", NoDiscriminator,
             summary="no image D: the objective judges with its own networks (AAE)")


@hookimpl
def ganzoo_register_losses(register):
    register("lsgan", LeastSquares, summary="least squares (LSGAN)", aliases=("least-squares",))
    register("hinge", Hinge, summary="hinge loss (SN-GAN)")
    register("wgan-gp", WassersteinGP,
             summary="Wasserstein loss with gradient penalty; weight=10")
    register("wgan", WGAN, summary="Wasserstein loss, D's weights clipped after each update; "
                                   "clip=0.01")
    register("wgan-div", WassersteinDiv, summary="Wasserstein divergence; k=2, p=6")
    register("dragan", DRAGAN, summary="non-saturating loss, gradient penalty near the real "
                                       "data; weight=10")
    register("bgan", BoundarySeeking, summary="boundary-seeking GAN")
    register("r3gan", RelativisticPairing,
             summary="R3GAN's relativistic pairing loss with R1 and R2 penalties; gamma=0.05, "
                     "every=1 (lazy: every N D updates), gamma_end and decay_images (cosine)")
    register("ragan", RelativisticAverage, summary="relativistic average (non-saturating)")
    register("softmax-gan", SoftmaxGAN, summary="softmax GAN (a partition function over the "
                                                "real and fake batch)")
    register("acgan", AuxiliaryClassifier,
             summary="auxiliary classifier GAN: D predicts the class (class_outputs=N)")
    register("infogan", InfoGAN, summary="InfoGAN: a Q head on D's features recovers G's "
                                         "latent codes; cat_weight=1, cont_weight=0.1")
    register("clustergan", ClusterGAN, summary="ClusterGAN: an encoder inverts G's "
                                               "[z_n, one-hot z_c]; beta_n=10, beta_c=10")
    register("began", BEGAN, summary="BEGAN: autoencoder D, equilibrium k kept on the "
                                     "device; gamma=0.5, lambda_k=0.001")
    register("ebgan", EBGAN, summary="energy-based GAN with the pull-away term; margin=1, "
                                     "pt_weight=0.1")
    register("aae", AdversarialAutoencoder,
             summary="adversarial autoencoder: G decodes, an encoder and a D on codes; "
                     "adversarial=0.001, reconstruction=0.999")
    register("sgan", SemiSupervised, summary="semi-supervised GAN: D classifies the "
                                             "labelled real images (labeled_per_class)")


@hookimpl
def ganzoo_register_datasets(register):
    register("fashion-mnist", FashionMNIST,
             summary="Fashion-MNIST clothing, 60,000 train / 10,000 test, 1x28x28")
    register("coupled-mnist", CoupledMNIST,
             summary="CoGAN's digits beside unrelated digits' negatives, 1x28x56")


@hookimpl
def ganzoo_register_evaluators(register):
    register("fashion-cnn", FashionCNN, summary="2-conv CNN classifier for Fashion-MNIST")


@hookimpl
def ganzoo_register_optimizers(register):
    register("rmsprop", rmsprop, summary="RMSprop (foreach); alpha, eps, momentum")
    register("sgd", sgd, summary="SGD (foreach); momentum, nesterov")


@hookimpl
def ganzoo_register_augments(register):
    register("diffaugment", DiffAugment,
             summary="DiffAugment: policy=color,translation,cutout (Zhao et al. 2020)")


@hookimpl
def ganzoo_register_schedules(register):
    register("linear-decay", LinearDecay,
             summary="constant for start epochs, then linear towards end (default 0)")
    register("cosine-decay", CosineDecay, summary="half a cosine from 1 to end (default 0)")
    register("step-decay", StepDecay,
             summary="gamma (0.5) times the rate every `every` (10) epochs")
    register("warmup", Warmup,
             summary="by step: linear from start (0) to the full rate over `steps` (500)")

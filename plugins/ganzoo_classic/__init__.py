"""Classic GAN variants for ganzoo: DCGAN, LSGAN, hinge, WGAN-GP, a conditional GAN,
Fashion-MNIST."""

"""ganzoo's reference plugin: the vanilla MLP GAN on MNIST from the tutorial it grew from."""

"""ganzoo's plugin for images beyond MNIST: your own image folders and CIFAR-10/100 in colour,
and the small CNN that scores them."""

"""Image-to-image translation for ganzoo: pix2pix and CycleGAN, their networks (U-Net,
ResNet, PatchGAN), paired and unpaired image folders and two datasets made from MNIST."""

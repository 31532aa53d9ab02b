"""DiffAugment's transformations, checked on small images, and D seeing every image
through the preset's augment in both updates."""

import types

import torch
from ganzoo_classic.augment import DiffAugment, color, cutout, translation

import ganzoo


def shifted(image, dy, dx):
    """``image`` (C, H, W) moved down by dy and right by dx, zeros coming in."""
    out = torch.zeros_like(image)
    _, h, w = image.shape
    for y in range(h):
        for x in range(w):
            if 0 <= y + dy < h and 0 <= x + dx < w:
                out[:, y, x] = image[:, y + dy, x + dx]
    return out


def test_translation_moves_each_image_by_at_most_its_reach():
    torch.manual_seed(0)
    x = torch.rand(6, 2, 8, 8) + 0.1
    out = translation(x, ratio=0.25)  # reach: 2 pixels
    for image, moved in zip(x, out, strict=True):
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                  if torch.equal(moved, shifted(image, dy, dx))]
        assert len(shifts) == 1


def test_cutout_zeroes_one_square_and_keeps_the_rest():
    torch.manual_seed(1)
    x = torch.rand(8, 1, 8, 8) + 0.1
    out = cutout(x, ratio=0.5)
    for image, cut in zip(x, out, strict=True):
        hole = cut[0] == 0
        rows, cols = hole.any(1).nonzero().view(-1), hole.any(0).nonzero().view(-1)
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert hole[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # a rectangle
        assert hole.sum() == len(rows) * len(cols)
        assert torch.equal(cut[0][~hole], image[0][~hole])


def test_color_is_a_per_image_affine_map_in_the_papers_ranges():
    torch.manual_seed(2)
    x = torch.rand(16, 1, 4, 4) * 2 - 1
    out = color(x)
    for image, coloured in zip(x.flatten(1), out.flatten(1), strict=True):
        slope = (coloured[1] - coloured[0]) / (image[1] - image[0])
        assert torch.allclose(coloured, slope * image + (coloured[0] - slope * image[0]),
                              atol=1e-5)
        assert 0.5 - 1e-5 <= slope <= 1.5 + 1e-5  # contrast; one channel keeps saturation


def test_the_augment_is_differentiable():
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    DiffAugment()(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


class Blank(ganzoo.Augment):
    def __call__(self, images):
        return images * 0


def test_d_sees_every_image_through_the_augment():
    hooks = types.SimpleNamespace(ganzoo_register_augments=ganzoo.hookimpl(
        lambda register: register("blank", Blank)))
    with ganzoo.in_process_plugin(hooks, "blank"):
        preset = ganzoo.resolve_preset("vanilla-mnist")
        from ganzoo.core.build import build
        from ganzoo.core.config import apply_overrides
        from ganzoo.engine.step import TrainStep

        preset = apply_overrides(preset, {"augment": "blank"})
        parts = build(preset)
        seen = []
        parts.discriminator.register_forward_hook(lambda m, args, out: seen.append(args[0]))
        step = TrainStep(parts, preset)
        step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.zeros(8, dtype=torch.long))
        assert len(seen) == 2  # the D update's one pass over real and fake, the G update's
        assert all(not images.any() for images in seen)

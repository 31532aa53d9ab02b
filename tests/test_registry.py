import importlib.metadata as md
import json
import types

import pytest
from helpers import assert_clean_error, run_cli
from torch import nn

import ganzoo
from ganzoo import ComponentRef, PluginError, Preset, in_process_plugin
from ganzoo.core.build import build
from ganzoo.core.plugins import get_registry


def plugin(**hooks):
    """A plugin object whose hooks are the given functions of ``register``."""
    ns = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(ns, f"ganzoo_register_{name}", ganzoo.hookimpl(fn))
    return ns


def test_first_party_plugin_registers_through_entry_points():
    reg = get_registry()
    preset = reg.get("presets", "vanilla-mnist")
    assert preset.provider == f"ganzoo {ganzoo.__version__}"
    assert {p.name for p in reg.plugins} >= {"vanilla"}
    assert reg.get("loss", "vanilla").name == "bce"  # alias


def test_nothing_loads_at_import():
    import subprocess
    import sys

    code = "import ganzoo, sys; print('ganzoo_vanilla' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_in_process_plugin_is_listed_and_shown():
    def presets(register):
        base = get_registry().preset("vanilla-mnist")
        register(Preset("my-gan", "a test preset", base.generator, base.discriminator,
                        base.loss, base.dataset))

    with in_process_plugin(plugin(presets=presets), "mine"):
        listed = run_cli("list", "presets", "my-*")
        assert listed.exit_code == 0, listed.output
        assert "my-gan" in listed.output and "mine (in-process)" in listed.output
        assert "vanilla-mnist" not in listed.output  # filtered by the pattern
        shown = json.loads(run_cli("plugins", "--json").output)
        mine = [p for p in shown["plugins"] if p["name"] == "mine"]
        assert mine and mine[0]["provides"] == {"preset": ["my-gan"]}
    assert "my-gan" not in run_cli("list", "presets").output


def test_unknown_names_suggest_the_nearest():
    result = run_cli("train", "vanila-mnist")
    assert_clean_error(result, "unknown preset 'vanila-mnist'. Did you mean 'vanilla-mnist'?",
                       "ganzoo list presets")
    assert_clean_error(run_cli("list", "presetz"), "unknown kind 'presetz'")


def test_a_name_two_plugins_register_means_neither_and_using_it_names_both(capsys):
    dup = plugin(generators=lambda register: register("mlp", nn.Linear))
    with in_process_plugin(dup, "dup") as reg:
        assert any("generator 'mlp' is registered by both ganzoo" in w and "dup (in-process)" in w
                   for w in reg.warnings)
        assert_clean_error(run_cli("train", "vanilla-mnist"), "generator 'mlp' is registered "
                           "by both ganzoo", "and dup (in-process)", "GANZOO_DISABLE_PLUGINS")
        assert reg.get("generator", "dcgan").provider.startswith("ganzoo ")  # the rest works
    assert "registered by both" in capsys.readouterr().err


def test_a_plugin_ships_a_folder_of_preset_files(tmp_path):
    shipped = tmp_path / "presets"
    shipped.mkdir()
    text = ganzoo.show_preset("vanilla-mnist")
    (shipped / "mine.toml").write_text(text.replace('name = "vanilla-mnist"',
                                                    'name = "shipped-gan"'))
    (shipped / "clash.toml").write_text(text)  # a built-in preset's name
    hooks = plugin(presets=lambda register: register(shipped))
    with in_process_plugin(hooks, "shipper"):
        listed = run_cli("list", "presets", "shipped-*")
        assert "shipped-gan" in listed.output and "[shipper (in-process)]" in listed.output
        assert ganzoo.resolve_preset("shipped-gan").generator.name == "mlp"
        assert_clean_error(run_cli("train", "vanilla-mnist"), "preset 'vanilla-mnist' is "
                           "registered by both ganzoo", "and shipper (in-process)")


def test_a_failing_hook_skips_only_that_plugin(monkeypatch):
    def boom(register):
        register("fine", nn.Linear)
        raise RuntimeError("kaput")

    with in_process_plugin(plugin(generators=boom), "broken") as reg:
        assert any("skipped plugin broken" in w and "RuntimeError: kaput" in w
                   for w in reg.warnings)
        with pytest.raises(ganzoo.ConfigError):
            reg.get("generator", "fine")  # partial registrations are rolled back
        result = run_cli("list", "presets")
        assert result.exit_code == 0 and "vanilla-mnist" in result.output
        assert "FAILED" in run_cli("plugins").output

        monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
        from ganzoo.core.plugins import reset_registry

        reset_registry()
        assert_clean_error(run_cli("list"), "skipped plugin broken", "kaput")


def test_a_plugin_that_fails_to_import_is_skipped(monkeypatch, tmp_path):
    from ganzoo.core.plugins import reset_registry

    # an installed distribution whose entry point names a module that does not exist
    info = tmp_path / "ganzoo_ghost-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganzoo-ghost\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganzoo]\nghost = ganzoo_no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    assert "ghost" in [ep.name for ep in md.entry_points(group="ganzoo")]
    result = run_cli("list", "presets")
    assert result.exit_code == 0
    assert "vanilla-mnist" in result.output
    assert "skipped plugin ganzoo-ghost 0.1" in result.output
    assert "ModuleNotFoundError" in result.output
    monkeypatch.undo()
    reset_registry()


def test_hook_name_typo_is_caught():
    typo = types.SimpleNamespace(ganzoo_register_generator=ganzoo.hookimpl(lambda register: None))
    with in_process_plugin(typo, "typo") as reg:
        assert any("skipped plugin typo" in w and "ganzoo_register_generator" in w
                   for w in reg.warnings)


def test_load_and_disable_environment(monkeypatch):
    from ganzoo.core.plugins import reset_registry

    monkeypatch.setenv("GANZOO_LOAD_PLUGINS", "")
    assert get_registry().list("presets") == []
    monkeypatch.setenv("GANZOO_LOAD_PLUGINS", "vanilla")
    reset_registry()
    assert [e.name for e in get_registry().list("generators")] == ["mlp"]
    assert get_registry().list("presets") == []  # the presets are the registry plugin's
    monkeypatch.delenv("GANZOO_LOAD_PLUGINS")
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "registry")
    reset_registry()
    assert_clean_error(run_cli("train", "vanilla-mnist"), "unknown preset")


def test_a_plugin_whose_requirement_did_not_load_is_skipped_with_one_warning(monkeypatch):
    from ganzoo.core.plugins import reset_registry

    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "vanilla")
    reset_registry()
    registry = get_registry()
    failed = {p.name: p.error for p in registry.plugins if p.error}
    assert set(failed) == {"classic", "registry", "translate"}
    assert "requires plugin vanilla" in failed["classic"]
    assert get_registry().list("generators") == []
    assert sum("requires plugin" in w for w in registry.warnings) == 3


def test_a_factory_of_the_wrong_type_names_its_plugin():
    bad = plugin(generators=lambda register: register("linear", lambda **kw: nn.Linear(2, 2)))
    with in_process_plugin(bad, "bad"):
        base = get_registry().preset("vanilla-mnist")
        preset = Preset("p", "", ComponentRef("linear"), base.discriminator, base.loss,
                        base.dataset)
        with pytest.raises(PluginError, match="from bad .in-process. built a Linear"):
            build(preset)


def test_components_of_mismatched_shapes_are_refused():
    base = get_registry().preset("vanilla-mnist")
    preset = Preset("p", "", ComponentRef("mlp", {"out_shape": [1, 8, 8]}), base.discriminator,
                    base.loss, base.dataset)
    with pytest.raises(ganzoo.ConfigError, match="generator works on images shaped"):
        build(preset)


def test_a_model_that_returns_the_wrong_shape_names_its_plugin(tmp_path):
    from ganzoo_vanilla.models import MLPDiscriminator

    class Unsqueezed(MLPDiscriminator):  # (N, 1) logits would broadcast silently in a loss
        def forward(self, x):
            return super().forward(x).unsqueeze(1)

    bad = plugin(discriminators=lambda register: register("mlp-n1", Unsqueezed))
    with in_process_plugin(bad, "bad"):
        base = get_registry().preset("vanilla-mnist")
        preset = Preset("p", "", base.generator,
                        ComponentRef("mlp-n1", {"in_shape": [1, 28, 28]}), base.loss,
                        base.dataset)
        with pytest.raises(PluginError, match=r"discriminator 'mlp-n1' from bad .in-process. "
                                              r"returned \(2, 1\) for 2 samples, expected \(2,\)"):
            build(preset)


def test_plugins_are_pluggy_plugins_and_a_broken_one_is_unregistered():
    def boom(register):
        raise RuntimeError("kaput")

    fine = plugin(generators=lambda register: register("fine-g", nn.Linear))
    broken = plugin(generators=boom)
    with in_process_plugin(fine, "fine"), in_process_plugin(broken, "broken"):
        pm = get_registry().plugin_manager
        assert pm.has_plugin("fine") and pm.has_plugin("vanilla")
        assert not pm.has_plugin("broken")  # skipped: pluggy no longer knows it
        hooked = pm.hook.ganzoo_register_generators.get_hookimpls()
        assert "fine" in [i.plugin_name for i in hooked]
        assert get_registry().get("generator", "fine-g").provider == "fine (in-process)"


def test_every_kind_has_its_hook_and_is_documented_where_users_look():
    """(docs/plugins.md's section on each kind: tests/test_docs.py.)"""
    from ganzoo.core.kinds import KINDS

    hooks = get_registry().plugin_manager.hook
    listed = run_cli("list", "--help").output
    for kind in KINDS:
        spec = getattr(hooks, kind.hook).spec
        assert spec.argnames == ("register",) and kind.factory in spec.function.__doc__
        assert kind.plural in listed, kind.plural
        assert f"``{kind.name}``" in ganzoo.list_components.__doc__, kind.name

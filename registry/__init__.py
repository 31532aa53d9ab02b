"""The zoo's catalogue as data: every ``*.toml`` file beside this one is a preset.

Installed as the import package ``ganzoo_registry`` (a top-level ``registry`` would collide
in site-packages) and registered through the ``ganzoo`` entry-point group like any plugin.
The presets name components that the ``vanilla`` and ``classic`` plugins register.
"""

from importlib import resources

import ganzoo

ganzoo_requires = ("vanilla", "classic")


def preset_files() -> list:
    """The catalogue's preset files, by name."""
    return sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".toml")),
                  key=lambda f: f.name)


@ganzoo.hookimpl
def ganzoo_register_presets(register):
    for path in preset_files():
        with resources.as_file(path) as real_path:
            register(ganzoo.load_preset_file(real_path))

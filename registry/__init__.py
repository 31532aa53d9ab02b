"""The zoo's catalogue as data: every ``*.toml`` file beside this one is a preset.

Installed as the import package ``ganzoo_registry`` (a top-level ``registry`` would collide
in site-packages) and registered through the ``ganzoo`` entry-point group like any plugin,
the way a plugin ships its own presets: ``register(<a folder of preset files>)``. The
presets name components that the ``vanilla`` and ``classic`` plugins register.
"""

from pathlib import Path

import ganzoo

ganzoo_requires = ("vanilla", "classic")


@ganzoo.hookimpl
def ganzoo_register_presets(register):
    register(Path(__file__).parent)

"""The ``popkin`` command: thin commands over the API.

Each command lives next to the code it drives (``popkin/<area>/command.py``) and is
imported only when invoked, so ``popkin --help`` does not pay for importing JAX.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# command name -> "module:attribute"
COMMANDS = {
    "check": "popkin.data.command:check",
    "nca": "popkin.nca.command:nca",
    "predict": "popkin.pk.command:predict",
    "fit": "popkin.infer.command:fit",
    "simulate": "popkin.simulate.command:simulate",
    "dose": "popkin.simulate.command:dose",
    "scenario": "popkin.scenario:command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name, target in COMMANDS.items() if _available(target))

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


def _available(target: str) -> bool:
    module = target.split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=_LazyGroup)
@click.version_option(package_name="popkin")
def main():
    """popkin: population PK/PD modelling on JAX."""


if __name__ == "__main__":
    main()

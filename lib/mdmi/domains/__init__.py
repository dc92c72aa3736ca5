"""Domain registry: every :class:`~mdmi.domains.base.DomainSpec` the workflow can run.

Three ways in, none of which edits a project file:

1. a subpackage of ``mdmi.domains`` whose ``__init__`` defines ``SPEC`` (the built-in domains);
2. a Python entry point in the group ``mdmi.domains`` (``my_domain = "my_pkg.my_domain:SPEC"``);
3. the config's ``plugins`` list: module names (``my_pkg.my_domain``) or paths to ``.py`` files
   that define ``SPEC`` (``load_plugins``, called by config validation before the schema is built).

    from mdmi.domains import registry, get_spec, get_domain
    get_domain(name, section)           # the configured domain object
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

from mdmi.domains.base import DomainSpec
from mdmi.errors import UsageError

_REGISTRY: dict[str, DomainSpec] = {}
_BUILTIN: set[str] = set()
_SCANNED = False


class PluginError(UsageError):
    """A plugin listed in the config (or an entry point) that cannot be loaded or is not a domain."""


def register(spec: DomainSpec, source: str = "") -> DomainSpec:
    """Add ``spec`` to the registry (the same spec twice is a no-op; two specs of one name an error)."""
    if not isinstance(spec, DomainSpec):
        raise PluginError(
            f"{source or spec!r}: SPEC must be a mdmi.domains.base.DomainSpec, got {type(spec).__name__}"
        )
    known = _REGISTRY.get(spec.name)
    if known is not None and known is not spec:
        raise PluginError(
            f"{source}: a domain named {spec.name!r} is already registered; rename the plugin's SPEC.name"
        )
    _REGISTRY[spec.name] = spec
    return spec


def _scan() -> None:
    """Built-in subpackages and installed entry points, once."""
    global _SCANNED
    if _SCANNED:
        return
    _SCANNED = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.ispkg:
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, "SPEC"):
                _BUILTIN.add(register(module.SPEC, module.__name__).name)
    for ep in entry_points(group="mdmi.domains"):
        register(ep.load(), f"entry point {ep.name} ({ep.value})")


def load_plugins(plugins: list[str] | None, base: Path | None = None) -> list[str]:
    """Import each plugin (module name or .py path, relative paths under ``base``) and register its SPEC;
    returns their domain names."""
    _scan()
    names = []
    for item in plugins or []:
        if item.endswith(".py"):
            path = Path(item) if Path(item).is_absolute() or base is None else Path(base) / item
            if not path.is_file():
                raise PluginError(
                    f"plugin {item}: no such file; give a path to a .py file that defines SPEC, "
                    f"or an importable module name"
                )
            name = f"mdmi_plugin_{path.stem}"
            module = sys.modules.get(name)
            if module is None or getattr(module, "__file__", None) != str(path):
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
        else:
            try:
                module = importlib.import_module(item)
            except ModuleNotFoundError as e:
                raise PluginError(
                    f"plugin {item}: module not found ({e.name}); install it, put it on PYTHONPATH, "
                    f"or give a path to its .py file"
                ) from None
        if not hasattr(module, "SPEC"):
            raise PluginError(
                f"plugin {item}: defines no SPEC (a mdmi.domains.base.DomainSpec); see docs/extending.md"
            )
        names.append(register(module.SPEC, f"plugin {item}").name)
    return names


def registry() -> dict[str, DomainSpec]:
    """Every registered domain, by name (built-ins, entry points, and plugins loaded so far)."""
    _scan()
    return dict(_REGISTRY)


def builtin() -> list[str]:
    """Names of the domains shipped inside ``mdmi.domains`` (what the project's own configs run)."""
    _scan()
    return sorted(_BUILTIN)


def get_spec(name: str) -> DomainSpec:
    specs = registry()
    if name not in specs:
        raise UsageError(
            f"unknown domain {name!r}; known: {', '.join(sorted(specs))} (a domain of your own: "
            f"list it under the config's plugins, see docs/extending.md)"
        )
    return specs[name]


def get_domain(name: str, cfg: dict):
    """The domain object for ``name`` configured by its config section ``cfg``."""
    return get_spec(name).make(cfg)

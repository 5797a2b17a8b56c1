"""The lookup tables of the zoo: architectures and their weight sets, read from :mod:`zoo.catalog`.

Names follow timm's ``arch.tag`` convention: ``pwcnet.things`` is the PWC-Net architecture with
the ``things`` weights; a bare ``pwcnet`` is the architecture with its default weights (or none).

Each catalog module declares ``ARCHITECTURE`` (an :class:`~zoo.catalog.records.Architecture`) and
``WEIGHTS`` (its :class:`~zoo.catalog.records.WeightsInfo` entries) and imports nothing from here; the
tables are filled from them on the first lookup. The catalog modules are found, not listed: every
module of the :mod:`zoo.catalog` package that declares ``ARCHITECTURE`` is one
(:func:`catalog_modules`), so a new architecture is one new file there. A catalog module kept
elsewhere (a plug-in, a test) joins with :func:`register_catalog`. This module holds metadata
only, so listing the registry never imports torch.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import pkgutil
from pathlib import Path
from types import ModuleType

from zoo.catalog.records import HUB_PREFIX, Architecture, WeightsInfo, resolve_import, split_name

__all__ = [
    "Architecture",
    "WeightsInfo",
    "all_architectures",
    "architecture",
    "bundled_weights",
    "catalog_modules",
    "list_models",
    "list_weights",
    "local_model",
    "register_architecture",
    "register_catalog",
    "register_weights",
    "resolve_import",
    "split_name",
    "weights_info",
]

_ARCHITECTURES: dict[str, Architecture] = {}
_WEIGHTS: dict[str, WeightsInfo] = {}
_CATALOG_LOADED = False


def register_architecture(arch: Architecture) -> Architecture:
    if arch.name in _ARCHITECTURES:
        raise ValueError(f"architecture {arch.name!r} is registered twice")
    _ARCHITECTURES[arch.name] = arch
    return arch


def register_weights(info: WeightsInfo) -> WeightsInfo:
    arch, tag = split_name(info.name)
    if not tag:
        raise ValueError(f"weights name {info.name!r} must be 'arch.tag'")
    if arch not in _ARCHITECTURES:
        raise ValueError(f"weights {info.name!r} name an unregistered architecture {arch!r}")
    if info.name in _WEIGHTS:
        raise ValueError(f"weights {info.name!r} are registered twice")
    _WEIGHTS[info.name] = info
    return info


def register_catalog(module: ModuleType) -> Architecture:
    """Register a catalog module's ``ARCHITECTURE`` and every entry of its ``WEIGHTS``."""
    for attribute in ("ARCHITECTURE", "WEIGHTS"):
        if not hasattr(module, attribute):
            raise ValueError(f"catalog module {module.__name__} declares no {attribute}")
    arch = register_architecture(module.ARCHITECTURE)
    for info in module.WEIGHTS:
        register_weights(info)
    return arch


def catalog_modules() -> list[ModuleType]:
    """The modules of the :mod:`zoo.catalog` package that declare an ``ARCHITECTURE``, by name."""
    import zoo.catalog

    modules = (importlib.import_module(f"zoo.catalog.{info.name}")
               for info in sorted(pkgutil.iter_modules(zoo.catalog.__path__), key=lambda info: info.name)
               if not info.ispkg and not info.name.startswith("_"))
    return [module for module in modules if hasattr(module, "ARCHITECTURE")]


def _load_catalog() -> None:
    global _CATALOG_LOADED
    if _CATALOG_LOADED:
        return
    _CATALOG_LOADED = True
    for module in catalog_modules():
        register_catalog(module)


def architecture(name: str) -> Architecture:
    """The architecture of a registry name (``arch`` or ``arch.tag``)."""
    _load_catalog()
    arch = split_name(name)[0]
    if arch not in _ARCHITECTURES:
        shown = arch if arch.isidentifier() else name  # "../../bogus" splits at a dot into ''
        raise KeyError(f"unknown architecture {shown!r}; available: {', '.join(sorted(_ARCHITECTURES))}")
    return _ARCHITECTURES[arch]


def weights_info(name: str) -> WeightsInfo:
    """Metadata of the weight set ``arch.tag`` (a bare ``arch`` means its default weights)."""
    arch_name, tag = split_name(name)
    arch = architecture(arch_name)
    tag = tag or arch.default_weights
    if tag is None:
        raise KeyError(f"architecture {arch_name!r} has no default weights; name a tag: "
                       f"{', '.join(list_weights(arch_name)) or 'none registered'}")
    full = f"{arch_name}.{tag}"
    if full not in _WEIGHTS:
        raise KeyError(f"unknown weights {full!r}; available for {arch_name!r}: "
                       f"{', '.join(list_weights(arch_name)) or 'none'}")
    return _WEIGHTS[full]


def list_weights(arch: str) -> list[str]:
    """Full names of every weight set of ``arch``, sorted."""
    architecture(arch)
    return sorted(n for n in _WEIGHTS if split_name(n)[0] == arch)


def bundled_weights(arch: str) -> list[str]:
    """Full names of the weight sets of ``arch`` that ship with the package (need no network)."""
    return [n for n in list_weights(arch) if _WEIGHTS[n].bundled]


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registry names matching the fnmatch ``pattern``.

    With ``pretrained=False`` the bare architecture names are listed too; with ``True`` only
    names that carry weights.
    """
    _load_catalog()
    names = list(_WEIGHTS) + ([] if pretrained else list(_ARCHITECTURES))
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def all_architectures() -> list[Architecture]:
    """Every registered architecture, sorted by name."""
    _load_catalog()
    return sorted(_ARCHITECTURES.values(), key=lambda a: a.name)


def _is_registry_name(text: str) -> bool:
    try:
        architecture(text)
    except KeyError:
        return False
    return True


def local_model(name: str | os.PathLike) -> Path | None:
    """The local folder or weight file that the model name ``name`` points to, or None.

    A name that parses as a registry name (``pwcnet``, ``pwcnet.synth``) is the registry's even
    when a file or folder of that name exists in the working directory; write it as a path
    (``./pwcnet``) to mean the folder. A stray folder can so never change what a name loads.
    """
    text = str(name)
    path = Path(text).expanduser()
    if text.startswith(HUB_PREFIX) or not path.exists():
        return None
    written_as_path = os.sep in text or (os.altsep or os.sep) in text or text.startswith(("~", "."))
    return path if written_as_path or not _is_registry_name(text) else None

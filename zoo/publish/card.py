"""Model cards: a weight record as the ``README.md`` of a Hugging Face Hub repository.

One generator serves ``zoo card NAME`` (any registry, ``hf-hub:`` or file name) and the cards that
:func:`zoo.save_pretrained` and ``zoo push`` write. A card has the Hub's YAML header (licence,
library, tags), then how to load and run the weights, the intended input, the metrics with
their source, the training recipe, the licence, the paper and the network config, all taken
from the :class:`~zoo.catalog.records.WeightsInfo` and the :class:`~zoo.catalog.records.Architecture`.
"""

from __future__ import annotations

import json
import re

from zoo.catalog.records import HUB_PREFIX, WeightsInfo
from zoo.catalog.registry import architecture, list_models

__all__ = ["hub_license", "model_card"]

#: Licence texts of the catalog (by their first words) and their Hub identifiers.
_HUB_LICENSES = (("apache-2.0", "apache-2.0"), ("cc by-nc-sa 4.0", "cc-by-nc-sa-4.0"))


def hub_license(text: str) -> tuple[str, str | None]:
    """The Hub's ``license`` value for a licence text, and a ``license_name`` slug when that is
    ``other`` (e.g. NVIDIA's NVAE licence), else None."""
    lowered = text.strip().lower()
    for prefix, identifier in _HUB_LICENSES:
        if lowered.startswith(prefix):
            return identifier, None
    slug = re.sub(r"[^a-z0-9]+", "-", lowered.split("(")[0]).strip("-")
    return "other", slug or "unknown"


def _front_matter(info: WeightsInfo, tags: tuple[str, ...]) -> list[str]:
    license_id, license_name = hub_license(info.license)
    lines = ["---", f"license: {license_id}"]
    if license_name:
        lines.append(f"license_name: {license_name}")
    lines += ["library_name: zoo", "tags:", *(f"- {tag}" for tag in tags), "---", ""]
    return lines


def _metrics(info: WeightsInfo) -> list[str]:
    if not info.metrics:
        return ["No published metrics.", ""]
    rows = ["| dataset | metric | value |", "|---|---|---|"]
    rows += [f"| {dataset} | {metric} | {value:g} |"
             for dataset, values in info.metrics.items() for metric, value in values.items()]
    return [*rows, "", f"Source: {info.metrics_source or 'not stated'}.", ""]


def model_card(arch_name: str, info: WeightsInfo, *, name: str | None = None) -> str:
    """The Markdown model card of the weights ``info`` of architecture ``arch_name``.

    Args:
        arch_name: the architecture (``pwcnet``, ``nvae``).
        info: the weight record (registry entry, or :attr:`zoo.weights.loader.ModelRecord.weights`).
        name: what users pass to ``zoo.load`` for these weights (e.g. ``hf-hub:ORG/NAME``);
            default ``info.name``.
    """
    arch = architecture(arch_name)
    name = name or info.name
    named = name.startswith(HUB_PREFIX) or name in list_models(pretrained=True)
    load_call = f'zoo.load("{name}")' if named else f'zoo.load("{arch.name}", weights="{name}")'
    summary = arch.description.split(";")[0]  # what follows a ';' describes the default config, not these weights
    lines = [*_front_matter(info, arch.tags), f"# {name}", "", f"{summary}.", ""]
    lines += ["## Use", "", "```python", "import zoo", "", f"net = {load_call}  # plain nn.Module, eval mode",
              *arch.usage.splitlines(), "```", ""]
    if arch.command:
        lines += ["```bash", arch.command.format(weights=name), "```", ""]
    lines += ["## Intended input", ""]
    lines += [f"- {key}: {value}" for key, value in info.input_convention.items()] or ["- not stated"]
    lines += ["", "## Metrics", "", *_metrics(info)]
    lines += ["## Training recipe", "", info.recipe or "Not stated.", ""]
    lines += ["## Licence", "", info.license or "Not stated.", ""]
    lines += ["## Paper", "", info.paper or "Not stated.", ""]
    lines += ["## Source", "", info.source or "Not stated.", ""]
    if info.num_params:
        lines += [f"Parameters: {info.num_params:,}.", ""]
    lines += ["## Network config", "", "```json", json.dumps(dict(info.description()["config"]), indent=2,
                                                              sort_keys=True), "```", ""]
    return "\n".join(lines)

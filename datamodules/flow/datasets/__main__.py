"""``python -m zoo.datamodules.flow.datasets``: the Markdown table of every declared flow dataset name."""

from zoo.datamodules.flow.datasets.declaration import names_table

print(names_table())

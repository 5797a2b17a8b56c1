"""Every architecture and weight set the zoo knows: one module per architecture.

Importing this package fills :mod:`zoo.registry`; it is imported on the first registry lookup.
"""
from zoo.catalog import pwcnet  # noqa: F401
from zoo.catalog import nvae  # noqa: F401

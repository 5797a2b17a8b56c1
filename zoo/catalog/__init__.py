"""Every architecture and weight set the zoo knows: one module per architecture.

Importing this package fills :mod:`zoo.registry`; it is imported on the first registry lookup.
"""

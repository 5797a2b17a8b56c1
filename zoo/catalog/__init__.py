"""Every architecture and weight set the zoo knows: one module per architecture.

Each module that declares ``ARCHITECTURE`` (and ``WEIGHTS``) is found by :mod:`zoo.catalog.registry`;
``records``, ``registry`` and ``measured`` are the machinery. Adding an architecture is one new module
here; adding a weight set is one entry in its module.
"""

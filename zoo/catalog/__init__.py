"""Every architecture and weight set the zoo knows: one module per architecture.

Each module declares ``ARCHITECTURE`` and ``WEIGHTS``; :mod:`zoo.catalog.registry` reads them (see its
``CATALOG_MODULES``). Adding a weight set is one entry in its module.
"""

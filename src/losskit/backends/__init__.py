"""Faster kernels of the catalog's losses, one module per backend, registered in :mod:`losskit._kernels`.

Each module is imported the first time a call of its array library is seen; none is imported by
``import losskit``.
"""

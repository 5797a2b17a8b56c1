"""Packages and their folders: the repository keeps ``zoo/``, ``models/`` and ``datamodules/`` at
its top level, and the distribution installs all three under the one import name ``zoo``
(``zoo.models``, ``zoo.datamodules``), so a user's own ``models.py`` or ``datamodules/`` never
shadows ours. Everything else is in setup.cfg."""

from setuptools import find_packages, setup

FOLDERS = {"zoo": "zoo", "zoo.models": "models", "zoo.datamodules": "datamodules"}


def packages_under(import_name: str, folder: str) -> list[str]:
    """``import_name`` and every package below ``folder``, named as installed."""
    return [import_name] + [f"{import_name}.{name}" for name in find_packages(folder)]


setup(
    package_dir=FOLDERS,
    packages=[package for name, folder in FOLDERS.items() for package in packages_under(name, folder)],
)

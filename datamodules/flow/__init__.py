"""Optical-flow data: file formats, datasets in their published layouts, their public archives,
augmentation, the procedural generator, the LightningDataModule, metrics and colour coding."""

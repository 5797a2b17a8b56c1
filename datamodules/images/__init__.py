"""Image data for NVAE: readers of the published formats, the uint8 memory-mapped cache, one
LightningDataModule per dataset, and image grids."""

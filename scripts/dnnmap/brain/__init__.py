"""Brain data: CIFTI files, atlases and ROIs, noise ceilings, neighborhoods and the simulated
brain."""

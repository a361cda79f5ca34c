"""Data layouts: one module per way a data set lies on disk, each turning a source into an image index."""

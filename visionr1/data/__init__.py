"""Training-mix construction: readers of the public datasets' on-disk formats and their layouts."""

"""The bottom layer: configuration, constants, atomic files, versions, precision, progress, colours."""

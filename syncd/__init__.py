"""syncd: share scanned images into LivePerson conversations and collect the files agents send."""

__version__ = "0.1.0"

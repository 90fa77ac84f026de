"""pims-sync: keeps a clinic's PIMS and the product database in step."""

__version__ = "0.1.0"

"""diffprice: differential electricity and water pricing."""
__version__ = "0.1.0"

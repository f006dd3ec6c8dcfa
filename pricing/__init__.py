"""diffprice: differential electricity and water pricing."""

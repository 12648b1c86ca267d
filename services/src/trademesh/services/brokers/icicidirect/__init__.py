"""ICICI Direct: trade book files."""

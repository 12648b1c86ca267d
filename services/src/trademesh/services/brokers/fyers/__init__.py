"""Fyers: tradebook report files."""

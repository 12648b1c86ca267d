"""Upstox: trade report files and the Upstox v2 HTTP API."""

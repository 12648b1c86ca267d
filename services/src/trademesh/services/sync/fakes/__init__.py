"""Fake Kite Connect and Upstox servers for tests, benchmarks and the local demo (`make up`)."""

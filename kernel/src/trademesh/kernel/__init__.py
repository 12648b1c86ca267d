"""The shared kernel: pure market vocabulary and money rules every service uses (no I/O, no gRPC, no database).

``lots`` (FIFO matching and round trips) and ``charges`` (brokerage and statutory charges) today; see
docs/architecture.md for what belongs here.
"""

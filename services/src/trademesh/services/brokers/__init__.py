"""Broker-specific code, one package per broker: what each broker's files, APIs and feeds look like, and the
local fakes that speak their documented protocols (beside the code they stand in for).

Shared by the services that talk to brokers (trade's imports, sync, market data); a broker package imports
only the kernel and third-party clients, never a service.
"""

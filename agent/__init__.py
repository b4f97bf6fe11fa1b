"""pi-edge agent: the host that runs Wasm actors on a Pi and joins it to a NATS lattice."""

__version__ = "0.1.0"

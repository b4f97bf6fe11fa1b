"""Wasmtime, seen from the agent: the engine and its deadline clock, the compile cache, the WIT
contract, building actors with componentize-py, one actor instance (store, instance, its imports),
the sandbox limits, and the wasmtime-py workarounds.  Nothing here knows about NATS."""

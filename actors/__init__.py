"""The WIT contract (``actors/wit``) and the actors' sources, shipped as package data.

Nothing here runs on the host: actor sources are compiled into Wasm components
by ``pi-edge build`` and the host reads the WIT to know the world it serves.
"""

"""The systemd unit templates, shipped as package data for ``pi-edge install-service``."""

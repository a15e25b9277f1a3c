"""Exceptions whose message is meant for the researcher running the workflow."""


class MambaICLError(RuntimeError):
    """Base class: the message names the problem and the fix."""


class ConfigError(MambaICLError, ValueError):
    """The workflow configuration is invalid."""


class DataIntegrityError(MambaICLError):
    """A file on disk does not match its recorded checksum or expected content."""


class CheckpointError(MambaICLError):
    """A checkpoint is missing, corrupt or was written by another configuration."""


class DeviceError(MambaICLError):
    """The requested compute device is not available."""


class WriteFailedError(MambaICLError):
    """A result or checkpoint could not be written (usually: the disk is full)."""

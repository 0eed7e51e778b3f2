"""Settings with defaults that run on a laptop; every setting overridable by environment variable."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]

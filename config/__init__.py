"""Settings with defaults that run on a laptop; every setting overridable by environment variable."""

from config.settings import PROJECT_ROOT, Settings, load_settings

__all__ = ["PROJECT_ROOT", "Settings", "load_settings"]

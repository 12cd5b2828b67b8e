"""The settings model and its loader: the single source of truth for a stack's configuration."""

from websys.settings.app import COLORS, AppTierSettings, Color, ColorSettings
from websys.settings.loader import SettingsError, load_settings, parse_settings, stack_file_name
from websys.settings.model import ENVIRONMENTS, SECRET_KEYS, Environment, Settings

__all__ = [
    "COLORS",
    "ENVIRONMENTS",
    "SECRET_KEYS",
    "AppTierSettings",
    "Color",
    "ColorSettings",
    "Environment",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "stack_file_name",
]

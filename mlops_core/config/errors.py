"""The configuration error, in a module of its own so that every settings module can raise it."""


class ConfigError(ValueError):
    """The configuration file is missing a setting or holds an invalid one."""

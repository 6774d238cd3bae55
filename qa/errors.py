"""Errors a user can act on. Each message says what happened and how to fix it."""


class QAError(Exception):
    """Base class: the message is shown to the user as is."""


class InputError(QAError):
    """The question itself is unusable (empty, too long)."""


class IndexMissingError(QAError):
    """There is no index to answer from."""


class ModelError(QAError):
    """The generator could not be loaded or reached."""


class SettingsError(QAError):
    """A QA_* setting (or a command's option) has a value that cannot be used."""

    kind = "settings"  # for `qa ask --json`

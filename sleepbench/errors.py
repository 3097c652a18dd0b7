"""Errors sleepbench raises for what a user got wrong (imports nothing, so every layer may use it)."""


class UserError(ValueError):
    """A problem with the user's input (a command-line option, a suite or protocol file, a data
    folder, a results folder), not with sleepbench: the command line prints its message in one
    line and exits with status 2. Every other exception is a bug and keeps its traceback.

    A ``ValueError``, so code that validates input may catch either.
    """

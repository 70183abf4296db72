"""The root of the errors a user can act on: the CLI and the GUI print them as one line."""


class UserError(Exception):
    """A problem with the user's input or setup (not a bug); ``str()`` is the message."""

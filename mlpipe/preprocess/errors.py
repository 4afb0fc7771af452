"""The one exception a galaxy's preprocessing raises: its message is the recorded rejection reason."""


class Rejected(ValueError):
    """This galaxy cannot be processed; the shard goes on without it."""

"""UserError: a failure the user must hear about in one line (the command exits 1, no traceback).

Every error a person can cause and fix (a missing file, a bad flag value, a
checkpoint of another model) is a UserError or one of its subclasses;
``cli.run_command`` prints it as ``error: <message>``. The data and backend
layers have their own (``datasets.DatasetError``, ``nn.backend.BackendError``)
because they must not depend on this package; ``cli.USER_ERRORS`` lists all.
"""


from datasets.errors import name_some, why  # "a, b, c and 2 more", an OSError in a few words: shared with datasets/

__all__ = ["UserError", "TrainingError", "name_some", "why"]


class UserError(RuntimeError):
    """Say what went wrong and how to fix it, in one line."""


class TrainingError(UserError):
    """Training cannot start or cannot go on (too little data, diverged, a run folder in use)."""

"""The one exception type that the datasets package lets escape.

Every problem a user can run into (no network, a corrupt or missing file, an
empty image folder, a typo in a dataset name, an unsupported image size) is
reported as a ``DatasetError`` whose message is one human-readable line that
names the file or setting at fault.  The trainer prints that line and exits, so
nobody has to read a traceback from deep inside gzip, pickle or NumPy.
``name_some`` is how such a line names a few of many things, and ``why`` how
it words an OSError (the trainer's messages use both).
"""


class DatasetError(Exception):
    """A dataset cannot be loaded; ``str(error)`` says why in one line."""


def name_some(names, most=3):
    """"a, b, c and 2 more": a few names out of many, for one line."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def why(error):
    """An error in a few words: the OS's own ("No space left on device") for an OSError, else its text."""
    return error.strerror or str(error) if isinstance(error, OSError) else str(error)

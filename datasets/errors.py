"""The one exception type that the datasets package lets escape.

Every problem a user can run into (no network, a corrupt or missing file, an
empty image folder, a typo in a dataset name, an unsupported image size) is
reported as a ``DatasetError`` whose message is one human-readable line that
names the file or setting at fault.  The trainer prints that line and exits, so
nobody has to read a traceback from deep inside gzip, pickle or NumPy.
"""


class DatasetError(Exception):
    """A dataset cannot be loaded; ``str(error)`` says why in one line."""

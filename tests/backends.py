"""Test helpers around nn.backend: another backend for a block, and whether a backend can be used here."""
from nn import backend
from nn.backend import BackendError


class using:
    """``with using("array_api_strict"): ...``: another backend inside the block, the old one after."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.previous = backend._active["name"], backend._active["xp"]
        return backend.use(self.name)

    def __exit__(self, *exc):
        backend._active["name"], backend._active["xp"] = self.previous


def available(name):
    """(True, "") if backend ``name`` can be used here, else (False, reason)."""
    try:
        backend._import(name)
        return True, ""
    except BackendError as e:
        return False, str(e)

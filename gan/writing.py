"""Writing outputs safely, and reading back what a file really is: atomic writes, output paths checked before
long work, staged folders, and a NumPy file's kind.

* ``numpy_file_kind(path)`` reads a file's first bytes: "npz" (a zip
  archive, what ``np.savez`` writes), "npy" (one array) or None (anything
  else). Readers check it first, so random bytes or a text file are "not a
  checkpoint", never NumPy's advice to load a pickle.
* ``output_folder(path, flag)`` and ``output_file(path, flag)`` prove that an
  output can be written (creating missing folders) before the work that
  produces it starts: a bad ``--out`` is one line at once, not after training.
* ``write_atomically(path, write)`` writes through a temp file in the same
  folder, renamed into place; a failure leaves no partial file and is one line
  (``write_json`` is the usual ``write``).
* ``StagedFolder`` collects a set of files in a hidden temp folder and moves
  them into place only once all of them are written.
* ``FolderLock(folder)``: one writer at a time in a folder.

The output policy of every program here (docs/protection.md, "What a program writes"):
never onto one of its own inputs (``inputs=`` of ``output_file``); an existing
output only with ``--overwrite``, and only when it is what this program wrote
(``ours=``); anything else in the way is refused in one line; one writer at a
time (``FolderLock``; a single file is put in place with ``replace=False`` unless
replacing was asked, so that two writers racing for a new name cannot both win).
"""
import fcntl
import glob
import json
import os
import shutil
import socket
import sys
import tempfile
import time

from .errors import UserError, why

NPZ_MAGIC = b"PK\x03\x04"            # a zip archive (an empty one starts PK\x05\x06)
NPY_MAGIC = b"\x93NUMPY"


def numpy_file_kind(path):
    """"npz", "npy" or None (not a NumPy file, or unreadable: the reader then says why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(NPY_MAGIC))
    except OSError:
        return None
    if head.startswith(NPZ_MAGIC) or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head == NPY_MAGIC:
        return "npy"
    return None


def holds_python_objects(error):
    """Did ``np.load(..., allow_pickle=False)`` refuse because the file holds Python objects (object arrays,
    which would have to be unpickled: never done here)?"""
    return "allow_pickle" in str(error)


def probe_writable(folder, what, prefix=".probe-", suffix="", error=UserError):
    """Create and remove a temp file in ``folder`` (named as what will be written there will be): ``error``
    naming ``what`` if it cannot be written."""
    try:
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise error(f"cannot write in {what}: {why(e)}") from None


def output_folder(path, flag="--out"):
    """Create the output folder ``path`` (and its parents) and prove it writable, or one line why not."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path} cannot be a folder: it is a file; choose another {flag}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {path} cannot be a folder: {why(e)}") from None
    probe_writable(path, f"{flag} {path}")
    return path


def output_file(path, flag="--out", inputs=(), overwrite=False, ours=None, what="an earlier run's output"):
    """Prove that the file ``path`` can be written (its folder is created), or one line why not.

    ``inputs``: the files this program reads (paths or None): ``path`` may be none of them. An existing
    ``path`` is refused unless ``overwrite`` and ``ours(path)`` says it is this program's output (``what``).
    """
    if os.path.isdir(path):
        raise UserError(f"{flag} {path} is a folder: give a file name, e.g. {os.path.join(path, 'name')}")
    for given in inputs:
        if given and os.path.exists(given) and os.path.exists(path) and os.path.samefile(given, path):
            raise UserError(f"{flag} {path} is one of this command's inputs ({given}): writing there would "
                            f"destroy it; choose another {flag}")
    if os.path.lexists(path):
        if not (ours and ours(path)):
            raise UserError(f"{flag} {path} already exists and is not {what}: choose another {flag} "
                            "(nothing of yours is replaced)")
        if not overwrite:
            raise UserError(f"{flag} {path} already holds {what}: choose another {flag}, or pass --overwrite "
                            "to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {path} cannot be written: its folder {folder} cannot be created ({why(e)})") from None
    probe_writable(folder, f"the folder of {flag} {path}")
    return path


def json_with_keys(*keys):
    """An ``ours`` for ``output_file``: is the file a JSON object holding ``keys`` (what the program writes)?"""
    def ours(path):
        try:
            with open(path) as f:
                value = json.load(f)
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(value, dict) and all(key in value for key in keys)
    return ours


def write_atomically(path, write, prefix=None, if_it_fails="nothing was written there", replace=True):
    """``write(tmp)`` fills a temp file beside ``path`` (same extension; named ``prefix``..., by default
    .NAME.), renamed over ``path`` once complete: the one atomic write of every file the programs write.

    On any failure the temp file is removed and ``path`` is as it was; an OSError (a full disk, a
    read-only folder) becomes one line, "could not write PATH (why); ``if_it_fails``". ``replace=False``:
    ``path`` must still not exist (another program may have written it meanwhile): it is linked into
    place, which fails instead of replacing.
    """
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix or f".{name}.", suffix=os.path.splitext(name)[1], dir=folder)
        os.close(fd)
    except OSError as e:
        raise UserError(f"could not write {path} ({why(e)}); {if_it_fails}") from None
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())            # mkstemp makes it private; an output is not
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise UserError(f"{path} appeared while this program ran (another program wrote it): it was left as it "
                        f"is, and this result was not saved; run again with another output name") from None
    except OSError as e:
        raise UserError(f"could not write {path} ({why(e)}); {if_it_fails}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, value):
    """``value`` as indented JSON in ``path`` (pass it to ``write_atomically`` or a ``StagedFolder``)."""
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def current_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


class StagedFolder:
    """``with StagedFolder(out) as stage: write(stage.path(name)) ...; stage.commit()``.

    Files are written into a hidden temp folder inside ``out`` and renamed into ``out`` by
    ``commit`` (renames need no space: a full disk fails while staging, before anything in
    ``out`` changed). Leaving the block without ``commit`` removes the temp folder. An OSError
    while staging is one line naming the file. A temp folder that a killed process left behind
    (its name holds the process id) is removed by the next one, with a note.
    """

    def __init__(self, out, flag="--out"):
        self.out, self.flag = out, flag

    def __enter__(self):
        remove_dead_staging(self.out)
        try:
            self.folder = tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=self.out)
        except OSError as e:
            raise UserError(f"cannot write in {self.flag} {self.out}: {why(e)}") from None
        self.names = []
        return self

    def path(self, name):
        self.names.append(name)
        return os.path.join(self.folder, name)

    def write(self, name, write):
        """``write(temp path)`` for the file ``name``; a failure is one line, and nothing in ``out`` changed."""
        try:
            write(self.path(name))
        except OSError as e:
            raise UserError(f"could not write {os.path.join(self.out, name)} ({why(e)}); nothing in "
                            f"{self.out} was changed") from None

    def commit(self):
        for name in self.names:
            os.replace(os.path.join(self.folder, name), os.path.join(self.out, name))

    def __exit__(self, *exc):
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_dead_staging(out):
    """Remove ``.staging-PID-*`` folders in ``out`` whose process no longer runs (killed mid-write)."""
    for folder in glob.glob(os.path.join(out, ".staging-*-*")):
        pid = os.path.basename(folder).split("-")[1]
        if pid.isdigit() and not process_runs(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            print(f"note: removed {folder}, the unfinished output of a process that was killed", file=sys.stderr)


def process_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                       # it runs, as another user
        return True
    return True


LOCK_NAME = ".lock"


class FolderLock:
    """``with FolderLock(folder, "--out FOLDER"): ...``: this process is the only writer in ``folder``.

    An exclusive ``flock`` on FOLDER/.lock: the kernel drops it when the process ends, however it ends
    (even ``kill -9``), so a stale lock cannot block the next writer; the file only says who held it last
    (pid, host, start time). A second writer is refused in one line (``error``) naming the first.
    ``remove=True``: the lock file goes when the lock does (an output folder keeps only its outputs); a
    writer that locked a file just removed that way finds it no longer at the path and counts as refused.
    """

    def __init__(self, folder, what=None, error=UserError, remove=False,
                 instead="wait for it to finish, or choose another --out"):
        self.path = os.path.join(folder, LOCK_NAME)
        self.what, self.error, self.remove, self.instead = what or folder, error, remove, instead

    def __enter__(self):
        try:
            self.file = open(self.path, "a+")
        except OSError as e:
            raise self.error(f"{self.what}: its lock file {self.path} cannot be opened ({why(e)}): it should be a "
                             "small file; remove what is there if it is not yours") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(self.file.fileno()).st_ino != os.stat(self.path).st_ino:
                raise OSError("the lock file was replaced meanwhile")
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            del self.file
            raise self.error(f"{self.what} is in use by {holder}: {self.instead}") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        self.file.flush()
        return self

    def __exit__(self, *exc):
        if self.remove:
            os.remove(self.path)                   # before unlocking: the next writer makes a new lock file
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def lock_holder(folder):
    """Who holds ``folder``'s lock now ("process 123 on host since ..."), or None if nobody does."""
    try:
        with open(os.path.join(folder, LOCK_NAME)) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return f.read().strip() or "another process"
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return None

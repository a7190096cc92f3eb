"""A folder of written exercises as a layer library: what ``dcgan.py --layers DIR`` trains with.

``load(folder, exercise)`` imports the student's file (DIR/NAME.py) fresh; ``layer_library(folder)`` is nn
with every piece the folder holds in place of nn's, each first passing its check (else one line naming it
and the check command). The student's im2col and col2im reach the convolutions too: the library's Conv2d and
ConvTranspose2d are the student's or nn/conv.py's, loaded again so that they call the student's im2col.
"""
import importlib.util
import os
import types

import nn
from gan.errors import UserError

from .catalogue import EXERCISES
from .checking import run_checks


def student_file(folder, exercise):
    return os.path.join(folder, f"{exercise.name}.py")


def written(folder):
    """The exercises whose file ``folder`` holds, in reading order."""
    return [exercise for exercise in EXERCISES if os.path.isfile(student_file(folder, exercise))]


def load(folder, exercise):
    """The student's module for ``exercise``, imported fresh from DIR/NAME.py (its errors are the student's)."""
    return load_file(student_file(folder, exercise), f"student_{exercise.name}")


def load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layer_library(folder):
    """nn with the student's pieces in place: a drop-in for ``nn`` (``student_folder``, ``student_exercises``:
    where they are, and which)."""
    if not os.path.isdir(folder):
        raise UserError(f"--layers {folder}: choose nn, fast, or a folder of exercises (python -m exercises start "
                        "NAME writes one into my_layers/)")
    exercises = written(folder)
    if not exercises:
        raise UserError(f"--layers {folder}: the folder holds no exercise file (relu.py, batchnorm.py, ...): "
                        "python -m exercises list names them")
    lib = types.ModuleType(f"layers from {folder}")
    lib.__dict__.update({name: getattr(nn, name) for name in nn.__all__})
    modules = {}
    for exercise in exercises:
        module = load(folder, exercise)
        if any(line.ok is False for line in run_checks(exercise, module)):
            raise UserError(f"--layers {folder}: {student_file(folder, exercise)} does not pass its check yet: "
                            f"python -m exercises check {exercise.name} --dir {folder}")
        modules[exercise.name] = module
        for piece in exercise.pieces:
            setattr(lib, piece, getattr(module, piece))
    if "im2col" in modules:
        route_im2col(lib, modules)
    lib.student_folder, lib.student_exercises = folder, [exercise.name for exercise in exercises]
    return lib


def route_im2col(lib, modules):
    """The student's im2col and col2im into every convolution the library holds."""
    conv = load_file(nn.conv.__file__, "nn._conv_with_student_im2col")     # nn/conv.py again, in the nn package
    users = [conv] + [modules[name] for name in ("conv2d", "conv_transpose2d") if name in modules]
    for module in users:
        for name in ("im2col", "col2im"):
            if hasattr(module, name):
                setattr(module, name, getattr(modules["im2col"], name))
        if module is not conv:
            for name in ("conv2d", "conv_transpose2d"):
                if hasattr(module, name):
                    setattr(module, name, getattr(conv, name))
    lib.Conv2d = modules["conv2d"].Conv2d if "conv2d" in modules else conv.Conv2d
    lib.ConvTranspose2d = (modules["conv_transpose2d"].ConvTranspose2d if "conv_transpose2d" in modules
                           else conv.ConvTranspose2d)

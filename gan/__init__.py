"""gan: the DCGAN's parts around the training story that dcgan.py tells.

In reading order: ``config`` (what a run is asked to do), ``flags`` (the
train command's flags, which make a Config), ``models`` (G, D,
sampling), ``pictures`` (images in and out), ``checkpoint`` (atomic .npz
files and loading models back), ``runfolder`` (one run per
folder, nothing replaced unasked), ``quality`` (scoring samples with a
classifier), ``sampling`` (the ``generate`` and ``evaluate`` commands),
``errors`` and ``cli`` (errors as one line, argparse types). Nothing here imports dcgan.py.
"""

"""gan: the DCGAN's parts around the training story that dcgan.py tells.

In reading order: ``config`` (what a run is asked to do), ``flags`` (the
train command's flags, which make a Config), ``fit`` (the data a Config
names, and what only the data can say), ``models`` (G, D, sampling),
``pictures`` (images in and out), ``checkpoint`` (atomic .npz files,
loading models back, a checkpoint to resume from), ``runfolder`` (one run
per folder, nothing replaced unasked), ``outputs`` (what a run writes in
its folder), ``report`` (what a run prints and logs as it trains),
``signals`` (Ctrl-C and SIGTERM: one line at start-up, save and stop
while training), ``per_class`` (--per-class: one run per class),
``quality`` (scoring samples with a classifier), ``sampling`` (the
``generate`` and ``evaluate`` commands), ``samples`` (samples files read
back), ``files`` (output paths checked first, atomic writes), ``memory``
(sizes against the machine's memory), ``errors`` and ``cli`` (errors as one
line, argparse types). Nothing here imports dcgan.py.

This file imports nothing: dcgan.py loads ``gan.signals`` before NumPy.
"""

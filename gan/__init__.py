"""gan: the DCGAN's parts around the training story that dcgan.py tells, one idea per file.

docs/tour.md lists the files in reading order with what each holds. Nothing here imports dcgan.py.

This file imports nothing: dcgan.py loads ``gan.signals`` before NumPy.
"""

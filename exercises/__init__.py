"""exercises: write each backward pass of the DCGAN yourself, proven by gradient checks, then train on it.

    python -m exercises list                      # the exercises, in reading order, with what each asks
    python -m exercises start batchnorm           # writes my_layers/batchnorm.py: the layer, its backward to write
    python -m exercises check batchnorm           # gradient checks on your version, with a diagnosis
    python dcgan.py --layers my_layers            # train the DCGAN with your pieces in place of nn/'s

``catalogue.py`` lists the exercises; ``skeleton.py`` writes the file a student edits from nn/'s own source
(never a second copy that could go stale); ``checking.py`` runs the test suite's checks on it and says what
it can tell about a wrong gradient; ``library.py`` turns a folder of written exercises into a layer library
for ``dcgan.py --layers``. docs/exercises.md is the teacher's page.
"""

"""Flows that cross stages: the only code (with `dcbench.cli`) that may import several stages.

Each stage package imports the spine and itself only, and meets the next
stage through files on disk. A flow chains stages for the user:

    toy_setup.py   `dcbench pool toy`: the toy pool (pools), its quality classifier
                   (baselines) and the toy evaluation suite (eval)
    toy_suite.py   the toy suite's items, drawn from the toy pool's language in eval's format
    reproduce.py   `dcbench reproduce baseline`: pool -> process -> tokenize -> train -> eval
    mixing.py      `dcbench mix run`: tokenize, train and validate one small model per mixture
    cli.py         the commands above, registered beside the stages' own
"""

"""Data mixing laws (Ye et al., arXiv 2403.16952): predict validation loss
from the mixture proportions of the training sources, fitted on small runs,
and choose the mixture with the lowest predicted loss.

    grid.py      mixtures to try: the paper's double-diminishing grid, Dirichlet draws
    laws.py      the M4 law per validation domain, the implicit-aggregation model,
                 the step law L(S) and size law L(N) for nested prediction
    fitted.py    a fitted law as a file (law.json)
    optimize.py  the mixture that minimises predicted loss under per-source caps
    runs.py      the table of small runs a fit reads, and the nested pipeline
    cli.py       `dcbench mix propose | fit | optimize`

Mixture files are the spine's (`dcbench.mixture`): training reads them too.
The small runs themselves (`dcbench mix run`) train models, so they are a flow
(`dcbench.flows.mixing`).
"""

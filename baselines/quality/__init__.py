"""Model-based quality scoring and selection (DCLM's fastText OH-2.5 + ELI5 classifier and its kin)."""

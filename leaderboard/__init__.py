"""Leaderboard: submission documents, rule checks, the results store, DCLM reference import and tables."""

"""Published reference numbers (`published.yaml`), installed as the package data `partbench.leaderboards`.

Read them with `partbench.leaderboard.published.load_published`; the repository's leaderboards/README.md describes
the sources.
"""

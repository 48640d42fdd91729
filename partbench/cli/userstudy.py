"""`partbench userstudy`: A/B user-study packs (export) and the analysis of their answers (analyze)."""

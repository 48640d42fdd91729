"""A/B (two-alternative forced choice) user studies of generation runs: export a pack, analyse the answers.

`export` builds a static pack (HTML page from a jinja2 template, images, crowd-platform items.csv, a private key),
`analyze` reads the answers (the page's JSON files, a long CSV or a crowd-platform batch-results CSV), filters raters
and reports preferences with exact binomial tests and rater-clustered bootstrap intervals; `plot` draws the chart.
"""

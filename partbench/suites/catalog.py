"""The built-in suites: every YAML file in this folder, registered under its file name."""

from partbench.registry import register_suite
from partbench.suites import SUITES_DIR

for _path in sorted(SUITES_DIR.glob("*.yaml")):
    register_suite(_path)

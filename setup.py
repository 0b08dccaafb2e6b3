"""Package discovery: the four code packages plus `data/`, shipped as `hil_data`.

pyproject.toml holds all metadata; this file only exists because setuptools' declarative
`packages.find` cannot map the top-level `data/` folder to an import name.
"""
from setuptools import find_packages, setup

code = find_packages(include=["hil*", "instruments*", "protocols*", "sim_backends*"])
data = ["hil_data"] + ["hil_data." + p for p in find_packages(where="data")]
setup(packages=code + data, package_dir={"hil_data": "data"})

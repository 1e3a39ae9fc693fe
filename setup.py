"""Package layout (everything else is in pyproject.toml).

The pipeline stages live in top-level folders of the source tree, as the design card lays them
out (``probes/``, ``ingest/``, ``analysis/``, ``reports/``, ``testlists/``), and install as
subpackages of the one importable package, so nothing generic such as ``analysis`` or
``reports`` lands at the top of a user's site-packages. Sub-packages are found automatically.
"""

from setuptools import find_packages, setup

STAGES = ("probes", "ingest", "analysis", "reports", "testlists")

packages = find_packages(include=["censorwatch", "censorwatch.*"])
package_dir = {"censorwatch": "censorwatch"}
for stage in STAGES:
    packages.append(f"censorwatch.{stage}")
    package_dir[f"censorwatch.{stage}"] = stage
    for sub in find_packages(where=stage):
        packages.append(f"censorwatch.{stage}.{sub}")
        package_dir[f"censorwatch.{stage}.{sub}"] = f"{stage}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)

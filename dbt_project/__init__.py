"""The dbt project, installed as the package ``yaocai.dbt_project`` (package data).

Only here so that an installed yaocai (editable or from a wheel) finds its dbt
project with importlib.resources instead of through a repository clone; dbt
ignores this file. See pyproject.toml [tool.setuptools] and foundation/layout.py.
"""

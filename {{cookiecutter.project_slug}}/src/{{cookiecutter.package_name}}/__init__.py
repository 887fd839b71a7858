{%- set summary = cookiecutter.description | trim | trim(".:;,!? ") -%}
"""{{ cookiecutter.project_name | trim }}{% if summary %}: {{ summary }}{% endif %}."""

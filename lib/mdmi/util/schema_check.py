"""Checking a value against a JSON schema without re-checking the schema itself.

``jsonschema.validate`` first validates the *schema* against its metaschema, every call: about 0.6 s
of CPU for the config schema, paid by every workflow job and by every knob checked in the Snakefile.
Our schemas are fixed files and code; ``tests/unit/test_domains.py`` checks them against the metaschema
once, so here a value is checked with the schema's own validator class and nothing else.
"""

from __future__ import annotations

import jsonschema
from jsonschema.exceptions import ValidationError, best_match


def first_error(instance, schema: dict) -> ValidationError | None:
    """The error ``jsonschema.validate`` would raise (its best match), or None when ``instance`` is valid."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    return best_match(validator.iter_errors(instance))

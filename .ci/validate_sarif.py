"""Validate SARIF files against a JSON schema: python validate_sarif.py SCHEMA FILE...

Prints `valid` or, per file, each violation with its JSON path; exits 1 on a violation.
The official SARIF 2.1.0 schema is draft 4 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/).
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft4Validator.check_schema(schema)
validator = jsonschema.Draft4Validator(schema)
bad = False
for name in sys.argv[2:]:
    for error in validator.iter_errors(json.load(open(name))):
        bad = True
        print(f"{name}: {list(error.absolute_path)}: {error.message}")
print("invalid" if bad else "valid")
sys.exit(1 if bad else 0)

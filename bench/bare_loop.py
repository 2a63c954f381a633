#!/usr/bin/env python3
"""The floor for a Python JSON mapper: decode every line, nothing else."""
import json
import sys

for l in sys.stdin:
    json.loads(l)

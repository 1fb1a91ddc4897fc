#!/usr/bin/env python3
"""openapi_to_c.py IN.yaml OUT.c: the OpenAPI document as compact JSON in a
C string (api_openapi_json), served at GET /v1/openapi.json. Fails on YAML
that does not parse or is not an OpenAPI 3.1 document."""
import json, sys, yaml

src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
    sys.exit(f"{src}: not an OpenAPI 3.1 document")
text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, sort_keys=False).encode()
with open(out, "w", encoding="ascii") as f:
    f.write("/* generated from api/openapi.yaml by cmake/openapi_to_c.py: do not edit */\n")
    f.write("const char api_openapi_json[] = {\n")
    for i in range(0, len(text), 20):
        f.write("".join(f"0x{b:02x}," for b in text[i:i + 20]) + "\n")
    f.write("0x00};\n")

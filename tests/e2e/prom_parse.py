# Parses Prometheus text from stdin with the prometheus_client library's own parser (Debian's
# python3-prometheus-client) and prints the families as JSON: a strict check of /metrics's format.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
json.dump(out, sys.stdout)

#!/usr/bin/env python3
"""Exit 0 when a luigid answers at URL within 2 s, else 1 (ignores any http_proxy setting).

    python scripts/luigid_answers.py http://127.0.0.1:8082
"""
import json
import sys
import urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(sys.argv[1] + "/api/has_task_history?data=%7B%7D", timeout=2) as reply:
        sys.exit(0 if "response" in json.load(reply) else 1)
except Exception:  # refused, timed out, not luigid: all mean "no luigid here"
    sys.exit(1)

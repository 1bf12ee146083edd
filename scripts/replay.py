"""Replays every sample event in events/ with `cargo lambda invoke` against a running
`cargo lambda watch` (the run command's server) and compares each answer with its expectation.

Usage: replay.py [PORT]   (default 9000). Needs the demo data, which the run command loads.
"""

import json
import pathlib
import subprocess
import sys

EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
HEADERS = ["content-type", "cache-control", "www-authenticate", "allow", "retry-after"]
port = sys.argv[1] if len(sys.argv) > 1 else "9000"


def observed(response):
    """The deterministic part, as tests/events.rs computes it: last_used_at moves with use."""
    def header(name):
        if name in response.get("headers", {}):
            return response["headers"][name]
        values = response.get("multiValueHeaders", {}).get(name)
        return values[0] if values else None

    headers = {name: header(name) for name in HEADERS if header(name) is not None}
    body = json.loads(response.get("body") or "null")
    for item in (body or {}).get("items", []):
        item.pop("last_used_at", None)
    return {"statusCode": response["statusCode"], "headers": headers, "body": body}


passed = failed = 0
for event in sorted(EVENTS.glob("*.json")):
    if event.name.endswith(".expected.json"):
        continue
    expected = json.loads(event.with_suffix(".expected.json").read_text())
    run = subprocess.run(
        ["cargo", "lambda", "invoke", "api-tokens", "-A", "127.0.0.1", "-P", port,
         "--data-file", str(event), "--output-format", "json"],
        capture_output=True, text=True, timeout=120,
    )
    try:
        got = observed(json.loads(run.stdout))
    except (json.JSONDecodeError, KeyError) as error:
        got = f"no Lambda response ({error}): {run.stdout}{run.stderr}"
    if got == expected:
        passed += 1
        print(f"ok   {event.name}")
    else:
        failed += 1
        print(f"FAIL {event.name}\n  expected {json.dumps(expected)}\n  got      {json.dumps(got)}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

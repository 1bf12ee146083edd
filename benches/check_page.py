"""Runs a bootstrap once through the Runtime-API harness and checks the page it answers.

Usage: check_page.py EVENT_JSON ORG NAMES_NEWEST_FIRST -- COMMAND...
COMMAND is the binary, or an emulator and its arguments before it, such as
`qemu-aarch64-static -L /usr/aarch64-linux-gnu target/lambda/api-tokens/bootstrap`.
NAMES_NEWEST_FIRST is a comma-separated list: the names of the seeded tokens, newest first,
which is the order of the page. The table, endpoint and CA come from this shell, as in
coldstart.py. Exits non-zero unless the answer is 200 with exactly that page.
"""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_model as lm  # noqa: E402

split = sys.argv.index("--")
event_file, org, names = sys.argv[1:split]
command = sys.argv[split + 1:]
command[0] = shutil.which(command[0]) or command[0]
expected = names.split(",")

inv, started, peak_kib = lm.run_process(
    command, lambda api: lm.lambda_environment(api, 128), open(event_file, "rb").read(),
    timeout=120, log=os.environ.get("CHECK_PAGE_LOG"))
status = inv.statuses[0]
page = json.loads(inv.first_body) if status == 200 else None
got = [item["name"] for item in page["items"]] if page else []
problems = []
if status != 200:
    problems.append(f"status {status}: {str(inv.first_body)[:300]}")
if got != expected:
    problems.append(f"names {got[:3]}… ({len(got)}), expected {expected[:3]}… ({len(expected)})")
if page and {item["org_id"] for item in page["items"]} != {org}:
    problems.append("items of another org")
if page and page.get("next_cursor") is not None:
    problems.append(f"next_cursor {page['next_cursor']}, expected none")
print(f"{os.path.basename(command[-1])} ({' '.join(os.path.basename(c) for c in command[:-1]) or 'native'}): "
      f"status {status}, {len(got)} items, cold start {(inv.answered_at[0] - started) * 1000:.0f} ms "
      f"(init {(inv.first_poll_at - started) * 1000:.0f} ms), peak RSS {peak_kib / 1024:.1f} MB"
      + ("" if problems else ": the expected page"))
if problems:
    raise SystemExit("wrong answer: " + "; ".join(problems))

"""End-to-end checks through `cargo lambda watch`, as a client sees the local server.

Usage: smoke.py BASE_URL TOKEN ORG. Exits non-zero on the first answer that is not as expected.
"""

import json
import sys
import urllib.error
import urllib.request

base, token, org = sys.argv[1:4]
path = f"/api/v1/organizations/{org}/api-tokens"
passed = 0


def call(method, url_path, auth=True):
    request = urllib.request.Request(base + url_path, method=method)
    if auth:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.load(error)


def check(name, method, url_path, status, auth=True, expect=lambda headers, body: True):
    global passed
    got, headers, body = call(method, url_path, auth)
    ok = (
        got == status
        and headers.get("content-type") == "application/json"
        and headers.get("cache-control") == "no-store"
        and (status == 200 or set(body) == {"error"})
        and expect(headers, body)
    )
    if not ok:
        print(f"FAIL {name}: {got} {dict(headers)} {json.dumps(body)}")
        sys.exit(1)
    passed += 1
    print(f"ok   {name}")
    return body


page = check("first page", "GET", path + "?limit=2", 200,
             expect=lambda h, b: len(b["items"]) == 2 and isinstance(b["next_cursor"], str))
check("next page", "GET", f"{path}?limit=2&cursor={page['next_cursor'].upper()}", 200,
      expect=lambda h, b: page["items"][0]["id"] not in [i["id"] for i in b["items"]])
check("uppercase org", "GET", path.replace(org, org.upper()), 200,
      expect=lambda h, b: all(i["org_id"] == org for i in b["items"]))
check("no credentials", "GET", path, 401, auth=False,
      expect=lambda h, b: h.get("www-authenticate", "").startswith("Bearer realm=")
      and b["error"]["code"] == "invalid_credentials")
check("bad limit", "GET", path + "?limit=0", 400,
      expect=lambda h, b: [d["field"] for d in b["error"]["details"]] == ["limit"])
check("wrong method", "POST", path, 405, expect=lambda h, b: h.get("allow") == "GET")
check("unknown path", "GET", "/api/v1/nothing", 404,
      expect=lambda h, b: b["error"]["code"] == "not_found")
print(f"{passed} passed, 0 failed")

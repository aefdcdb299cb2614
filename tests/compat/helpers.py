"""Small helpers shared by the compatibility tests."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def parse_table(text):
    """A glance/openstack 'Property | Value' table as a dict (wrapped values joined)."""
    rows = {}
    last = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells == ["Property", "Value"] or cells == ["Field", "Value"]:
            continue
        key, value = cells
        if key:
            rows[key] = value
            last = key
        elif last:
            rows[last] += value
    return rows


def list_ids(text):
    """The ID column of a list table."""
    ids = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells[0]) == 36 and cells[0].count("-") == 4:
            ids.append(cells[0])
    return ids


# In keystone mode the suite's conftest sets this to the Credentials whose
# token plain HTTP calls carry (when they don't bring their own).
TOKEN_SOURCE = None


def http(method, url, body=None, headers=None):
    """A plain HTTP call: (status, headers, body bytes)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    headers = dict(headers or {})
    if TOKEN_SOURCE is not None and not any(k.lower() == "x-auth-token" for k in headers):
        headers["X-Auth-Token"] = TOKEN_SOURCE.token()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if isinstance(body, (dict, list)):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def create_many(catalog_url, count, properties):
    """Creates `count` images with the given properties; returns their ids."""

    def one(i):
        status, _, body = http("POST", f"{catalog_url}/v2/images", {"name": f"bulk-{i:04d}", **properties})
        assert status == 201, body
        return json.loads(body)["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))

"""What the platform adapters cost on our side: a first sync of N members to each, against a local server.

    .venv/bin/python benchmarks/destinations.py [--members 100000]

Each adapter's ``send`` runs over batches of its ``max_batch_size`` (normalising, hashing, JSON, HTTP)
to a local server that accepts every request at once with the vendor's success body shape, so the
figures are the adapter's own ceiling: wall and CPU seconds, members per second, requests. The last
column is the floor the vendor's documented rate limit puts on the same sync (requests / allowed rate),
where one is published per call; real syncs also wait on the vendor's latency. No peer: the vendors'
SDKs are not installed here (and they neither normalise nor hash for you, except Google's samples).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx

from targetwise.config import Settings
from targetwise.destinations import DESTINATIONS, Batch, Member

#: published per-call rate limits (requests per second) where the vendor states one for these endpoints
RATE = {"klaviyo": 150 / 60, "hubspot": 100 / 10, "mailchimp": None, "google_customer_match": None,
        "meta_custom_audiences": None}
OPTIONS = {
    "google_customer_match": {"customer_id": "1234567890", "user_list_id": "7", "token_env": "B_TOKEN",
                              "developer_token_env": "B_TOKEN"},
    "meta_custom_audiences": {"audience_id": "1", "token_env": "B_TOKEN"},
    "klaviyo": {"list_id": "L1", "token_env": "B_TOKEN"},
    "hubspot": {"list_id": "1", "token_env": "B_TOKEN"},
    "mailchimp": {"list_id": "L1", "segment_id": "1", "token_env": "B_TOKEN"},
}


class Accepting(BaseHTTPRequestHandler):
    """Answers every request at once, shaped like the vendor's success body for that path."""

    requests = 0

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length)
        Accepting.requests += 1
        if self.path.endswith(":create"):
            answer: object = {"resourceName": "customers/1234567890/offlineUserDataJobs/1"}
        elif "/users" in self.path:
            data = json.loads(parse_qs(body.decode())["payload"][0])["data"]
            answer = {"num_received": len(data), "num_invalid_entries": 0}
        elif self.path.endswith("/batch/upsert"):
            inputs = json.loads(body)["inputs"]
            answer = {"status": "COMPLETE", "results": [{"id": str(i)} for i in range(len(inputs))]}
        elif "/memberships/" in self.path:
            answer = {"recordIdsAdded": [], "recordIdsMissing": []}
        elif "/segments/" in self.path:
            answer = {"errors": []}
        else:
            answer = {}
        payload = json.dumps(answer).encode()
        self.send_response(202 if "bulk-import" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_DELETE = do_GET = _answer


def members(n: int) -> list[Member]:
    return [Member(customer_id=f"c{i}", email=f"Person.{i}@Example.com", phone=f"+4479{i:08d}") for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    os.environ["B_TOKEN"] = "bench-key-us1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    people = members(args.members)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.platform()} | {os.cpu_count()} cores | Python {platform.python_version()} | "
          f"commit {commit} | load {os.getloadavg()[0]:.1f}")
    print(f"first sync of {args.members:,} members (e-mail + phone), local accepting server\n")
    print("| destination | batch | requests | wall s | CPU s | members/s | rate-limit floor s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with httpx.Client(timeout=30) as client:
        for kind, options in OPTIONS.items():
            cls = DESTINATIONS[kind]
            base_url = f"{base}/3.0" if kind == "mailchimp" else base
            destination = cls.from_options({**options, "base_url": base_url}, Settings())
            size = cls.max_batch_size
            Accepting.requests = 0
            wall, cpu = time.perf_counter(), time.process_time()
            for index, start in enumerate(range(0, len(people), size)):
                result = destination.send(Batch(sync_id="b", audience_id="a", audience_name="bench", version=1,
                                                action="add", members=tuple(people[start:start + size]),
                                                idempotency_key=f"b-v1-p0-add-{index:05d}"), client)
                assert result.status == "ok", result.detail
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            floor = "-" if RATE[kind] is None else f"{Accepting.requests / RATE[kind]:,.0f}"
            print(f"| {kind} | {size:,} | {Accepting.requests:,} | {wall:.2f} | {cpu:.2f} | "
                  f"{args.members / wall:,.0f} | {floor} |")
    server.shutdown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for a remote model API, on 127.0.0.1, for tests/plugins/http.

The behaviour is chosen by the text sent (the chat user message, or the
json mode's "input"): RATE429 / DATE429 / HUGE429 answer 429 once (with
Retry-After in seconds, as an HTTP date, or absurdly large), FLAKY500
answers 500 twice, ALWAYS503 always 503, BAD400 400, SLOW sleeps 3 s,
BUSY sleeps 0.3 s. GET /stats gives the requests seen per text, the
Authorization headers seen and the most BUSY requests in flight at once;
GET /reset the same, and starts its counts afresh (but for the texts seen).
Prints the port it listens on, then serves until its stdin closes.

For benchmarks (bench/bench-http.sh), two options: --latency-ms N makes
every answer take N ms more; --rate R refuses, with 429 and Retry-After,
a request that finds no token in a bucket of R tokens a second holding
one second's worth (a limit per second that allows a burst up to it, as
model APIs' limits per minute do). Then /stats also gives the requests
and the 429s counted in all, the first and last request's time, and the
most requests of any text in flight at once (all_max_in_flight)."""

import email.utils
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = {}
auth = set()
in_flight = 0
max_in_flight = 0
all_in_flight = 0
all_max_in_flight = 0
n_requests = 0
n_refused = 0
first_at = last_at = None


def option(name, default):
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


latency_s = option("--latency-ms", 0) / 1000
rate = option("--rate", 0)
bucket = rate
bucket_at = time.monotonic()


def take_token():
    """One request's token from the bucket (under the lock); False: none."""
    global bucket, bucket_at
    if rate <= 0:
        return True
    now = time.monotonic()
    bucket = min(rate, bucket + (now - bucket_at) * rate)
    bucket_at = now
    if bucket >= 1:
        bucket -= 1
        return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def leave_flight(self):
        """Counts this request out of flight before its answer is sent: once
        the client has the answer it may send the next, which must not
        find this one still counted."""
        global in_flight, all_in_flight
        if getattr(self, "counted", None) is None:
            return
        with lock:
            all_in_flight -= 1
            if self.counted == "busy":
                in_flight -= 1
        self.counted = None

    def reply(self, status, body, headers=()):
        self.leave_flight()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global max_in_flight, all_max_in_flight, n_requests, n_refused, first_at, last_at
        with lock:
            if self.path.startswith("/reset"):
                max_in_flight = all_max_in_flight = n_requests = n_refused = 0
                first_at = last_at = None
            self.reply(200, {"seen": seen, "auth": sorted(auth), "max_in_flight": max_in_flight,
                             "all_max_in_flight": all_max_in_flight, "requests": n_requests,
                             "refused": n_refused, "first_at": first_at, "last_at": last_at})

    def do_POST(self):
        global in_flight, max_in_flight, all_in_flight, all_max_in_flight
        global n_requests, n_refused, first_at, last_at
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.startswith("/json"):
            text = body["input"]
        else:
            text = body["messages"][-1]["content"]
        busy = text.startswith("BUSY")
        with lock:
            n = seen[text] = seen.get(text, 0) + 1
            if self.headers.get("Authorization"):
                auth.add(self.headers["Authorization"])
            if busy:
                in_flight += 1
                max_in_flight = max(max_in_flight, in_flight)
            all_in_flight += 1
            all_max_in_flight = max(all_max_in_flight, all_in_flight)
            self.counted = "busy" if busy else "other"
            n_requests += 1
            first_at = first_at or time.monotonic()
            last_at = time.monotonic()
            allowed = take_token()
            if not allowed:
                n_refused += 1
        try:
            if not allowed:
                self.reply(429, {"error": "rate limit"}, [("Retry-After", "1")])
            else:
                if latency_s > 0:
                    time.sleep(latency_s)
                self.answer(body, text, n)
        finally:
            self.leave_flight()

    def answer(self, body, text, n):
        if "RATE429" in text and n == 1:
            return self.reply(429, {"error": "slow down"}, [("Retry-After", "1")])
        if "DATE429" in text and n == 1:
            when = email.utils.formatdate(time.time() + 1, usegmt=True)
            return self.reply(429, {"error": "slow down"}, [("Retry-After", when)])
        if "HUGE429" in text and n == 1:
            return self.reply(429, {"error": "slow down"},
                              [("Retry-After", "9" * 40), ("x-ratelimit-reset-requests", "6m0s")])
        if "FLAKY500" in text and n <= 2:
            return self.reply(500, {"error": "oops"})
        if "ALWAYS503" in text:
            return self.reply(503, {"error": "down for maintenance, key " +
                                    self.headers.get("Authorization", "")})
        if "BAD400" in text:
            return self.reply(400, {"error": "bad request"})
        if "SLOW" in text:
            time.sleep(3)
        if "BUSY" in text:
            time.sleep(0.3)
        if self.path.startswith("/json"):
            return self.reply(200, {"result": {"upper": text.upper(), "id": body.get("id"),
                                               "chapter": body.get("chapter")}})
        words = len(text.split())
        self.reply(200, {
            "model": body.get("model", "none"),
            "choices": [{"message": {"role": "assistant", "content": "ECHO: " + text.upper()}}],
            "usage": {"prompt_tokens": words, "completion_tokens": words + 1,
                      "total_tokens": 2 * words + 1},
        })


def exit_with_parent():
    # The test holds our stdin open: when it ends, however it ends, so do we.
    sys.stdin.read()
    os._exit(0)


# socketserver's listen backlog is 5: past it the kernel drops a burst's
# new connections, and the client's SYN retransmits (1 s, then 3 s on)
# spread the burst out, hiding it from the rate limit and slowing the
# benchmark. A real API's server takes a burst's connections; so does this.
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()

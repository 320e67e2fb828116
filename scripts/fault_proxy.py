"""A fault-injecting HTTP proxy between gwsync's AWS SDK clients and moto, for tests.

    fault_proxy.py --target http://127.0.0.1:PORT --rate 0.3 --seed 7 [--port 0]

It listens on 127.0.0.1 (an ephemeral port unless --port is given), prints
`listening on PORT` on its first line of stdout, and forwards every request to --target.
A share --rate of the requests (drawn from a random generator seeded with --seed, so a run
can be repeated) meets one fault, chosen evenly:

- throttle:      answered 400 with AWS's throttling error (`Throttling` for ELB's query
                 protocol, `ThrottlingException` for ACM's JSON protocol); not forwarded;
- error500:      answered 500 (InternalFailure); not forwarded;
- error503:      answered 503 (ServiceUnavailable); not forwarded;
- delay:         forwarded after 2 seconds;
- drop_before:   the connection is closed without an answer; not forwarded;
- drop_after:    forwarded (AWS acts), then the connection is closed without an answer.

Besides, every call of an action named with --refuse (comma-separated, e.g.
`CreateTargetGroup`) is answered 400 `ValidationError`, as AWS answers a request it rejects:
what a gap in gwsync's checks would look like.

With --refuse-mixed-tags, a DescribeTags call whose ARNs name more than one kind of
resource (load balancers and target groups, say) is answered 400 `ValidationError`: an AWS
that would take one kind a call, which its API reference does not say (gwsync then reads one
kind a call); counted as `refused_mixed_tags`.

Control, on the same port (never faulted, never forwarded):
- `POST /__faults?rate=R&refuse=A,B&refuse_mixed_tags=1` sets the rate (0 stops the faults),
  the refused actions (empty: none) and whether mixed DescribeTags calls are refused (0: no);
  any may be left out; `reset=1` sets every count back to 0;
- `GET /__faults` answers JSON counts: requests, forwarded, each fault, and `actions`: the
  requests per API action (with --rate 0, a call-counting proxy for benchmarks).

Standard library only: it runs with the Python that runs moto.
"""

import argparse
import http.client
import http.server
import json
import random
import socketserver
import sys
import threading
import time
import urllib.parse

FAULTS = ["throttle", "error500", "error503", "delay", "drop_before", "drop_after"]

QUERY_ERROR = (
    "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
    "<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
)


class State:
    def __init__(self, target, rate, seed, refuse, refuse_mixed_tags):
        self.target = urllib.parse.urlsplit(target)
        self.rate = rate
        self.refuse = refuse
        self.refuse_mixed_tags = refuse_mixed_tags
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.counts = {
            "requests": 0,
            "forwarded": 0,
            "refused_mixed_tags": 0,
            **{f: 0 for f in FAULTS},
            "actions": {},
        }

    def draw(self):
        """The fault for the next request, or None."""
        with self.lock:
            self.counts["requests"] += 1
            if self.random.random() >= self.rate:
                return None
            fault = self.random.choice(FAULTS)
            self.counts[fault] += 1
            return fault

    def count(self, key):
        with self.lock:
            self.counts[key] += 1

    def count_action(self, action):
        with self.lock:
            actions = self.counts["actions"]
            actions[action] = actions.get(action, 0) + 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/__faults"):
            with self.state.lock:
                body = json.dumps(self.state.counts).encode()
            return self.answer(200, body, "application/json")
        self.proxy()

    def do_POST(self):
        if self.path.startswith("/__faults"):
            query = urllib.parse.parse_qs(
                urllib.parse.urlsplit(self.path).query, keep_blank_values=True
            )
            self.read_body()
            with self.state.lock:
                if "rate" in query:
                    self.state.rate = float(query["rate"][0])
                if "refuse" in query:
                    self.state.refuse = actions(query["refuse"][0])
                if "refuse_mixed_tags" in query:
                    self.state.refuse_mixed_tags = query["refuse_mixed_tags"][0] == "1"
                if query.get("reset") == ["1"]:
                    self.state.reset()
            return self.answer(200, b"{}", "application/json")
        self.proxy()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def aws_error(self, status, code, message):
        if self.headers.get("X-Amz-Target"):  # JSON protocol (ACM)
            body = json.dumps({"__type": code, "message": message}).encode()
            return self.answer(status, body, "application/x-amz-json-1.1")
        kind = "Sender" if status < 500 else "Receiver"
        body = QUERY_ERROR.format(kind=kind, code=code, message=message).encode()
        self.answer(status, body, "text/xml")

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def action(self, body):
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        return self.form(body).get("Action", [""])[0]

    def form(self, body):
        return urllib.parse.parse_qs(body.decode("utf-8", "replace"))

    def mixes_kinds(self, body):
        """Whether a DescribeTags request names more than one kind of resource: the first
        part of each ARN's resource (`loadbalancer/...`, `targetgroup/...`)."""
        form = self.form(body)
        arns = [v[0] for k, v in form.items() if k.startswith("ResourceArns.member.")]
        kinds = {arn.split(":", 5)[-1].split("/", 1)[0] for arn in arns}
        return len(kinds) > 1

    def proxy(self):
        body = self.read_body()
        action = self.action(body)
        self.state.count_action(action)
        with self.state.lock:
            refused = action in self.state.refuse
            refuse_mixed = self.state.refuse_mixed_tags
        if refused:
            return self.aws_error(400, "ValidationError", f"refused by the fault proxy: {action}")
        if refuse_mixed and action == "DescribeTags" and self.mixes_kinds(body):
            self.state.count("refused_mixed_tags")
            return self.aws_error(
                400, "ValidationError", "refused by the fault proxy: resources of several kinds"
            )
        fault = self.state.draw()
        if fault == "throttle":
            return self.aws_error(400, "Throttling", "Rate exceeded")
        if fault == "error500":
            return self.aws_error(500, "InternalFailure", "injected by the fault proxy")
        if fault == "error503":
            return self.aws_error(503, "ServiceUnavailable", "injected by the fault proxy")
        if fault == "drop_before":
            return self.drop()
        if fault == "delay":
            time.sleep(2)
        target = self.state.target
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        self.state.count("forwarded")
        if fault == "drop_after":
            return self.drop()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def actions(text):
    return {a for a in text.split(",") if a}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--refuse", default="")
    parser.add_argument("--refuse-mixed-tags", action="store_true")
    args = parser.parse_args()
    Handler.state = State(
        args.target, args.rate, args.seed, actions(args.refuse), args.refuse_mixed_tags
    )
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

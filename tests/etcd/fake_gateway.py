#!/usr/bin/env python3
"""A fake etcd JSON gateway that answers with malformed or hostile bodies,
so the client's strict parsing can be tested (tests/t_etcd.sh, mode
"strict" of test_etcd).  The scenario is the request's key (base64 in the
JSON body), after the last '/'.  Prints its port on stdout, then serves
until killed.  Loopback only."""
import base64
import http.server
import json
import socketserver
import sys
import time

HDR = {"cluster_id": "1", "member_id": "2", "revision": "5", "raft_term": "2"}
RANGE = {
    "rev-garbage": b'{"header":{"revision":"12x"}}',
    "rev-float": b'{"header":{"revision":1.5}}',
    "no-header": b'{"count":"1"}',
    "kvs-object": json.dumps({"header": HDR, "kvs": {}}).encode(),
    "bad-base64": json.dumps({"header": HDR, "count": "1",
                              "kvs": [{"key": "!!!!", "mod_revision": "3"}]}).encode(),
    "dup-field": b'{"header":{"revision":"5"},"count":"1","count":"2"}',
    "not-json": b"hello",
    "array": b"[]",
    "more-string": json.dumps({"header": HDR, "more": "true"}).encode(),
    "count-short": json.dumps({"header": HDR, "count": "0",
                               "kvs": [{"key": "YQ==", "mod_revision": "3"}]}).encode(),
    "neg-rev": json.dumps({"header": HDR, "count": "1",
                           "kvs": [{"key": "YQ==", "mod_revision": "-3"}]}).encode(),
    "empty-key": json.dumps({"header": HDR, "count": "1",
                             "kvs": [{"value": "YQ==", "mod_revision": "3"}]}).encode(),
    "huge-int": json.dumps({"header": {"revision": "99999999999999999999999"}}).encode(),
}
EV = {"kv": {"key": "YQ==", "create_revision": "3", "mod_revision": "7",
             "version": "1", "value": "dg=="}}


def line(o):
    return json.dumps({"result": o}).encode() + b"\n"


CREATED = line({"header": HDR, "created": True})
WATCH = {
    "w-bad-type": [CREATED, line({"header": HDR, "events": [dict(EV, type="EXPLODE")]})],
    "w-before-created": [line({"header": HDR, "events": [EV]})],
    "w-older": [CREATED, line({"header": HDR, "events": [
        {"kv": dict(EV["kv"], mod_revision="2")}]})],
    "w-unordered": [CREATED, line({"header": HDR, "events": [
        EV, {"kv": dict(EV["kv"], mod_revision="6")}]})],
    "w-permission": [b'{"error":{"grpc_code":7,"http_code":403,'
                     b'"message":"etcdserver: permission denied"}}\n'],
    "w-split": [CREATED, line({"header": HDR, "events": [EV]})],
    "w-huge": [CREATED, b"{" + b" " * (1 << 20)],
    "w-silent": [CREATED],
}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/v3/watch":
            req = req.get("create_request", {})
        key = base64.b64decode(req.get("key", "")).decode()
        if self.path == "/v3/kv/txn":
            c = req.get("compare") or req.get("success") or [{}]
            k = c[0].get("key") or c[0].get("request_put", {}).get("key", "")
            key = base64.b64decode(k).decode()
        scen = key.rsplit("/", 1)[-1]
        if scen == "http-502":
            self.send_response(502)
            self.end_headers()
            self.wfile.write(b"<html>bad gateway</html>")
            return
        if self.path == "/v3/kv/txn":
            body = {"txn-succeeded-string": json.dumps(
                {"header": HDR, "succeeded": "yes"}).encode()}.get(scen, b"{}")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/v3/kv/range":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(RANGE.get(scen, b"{}"))
            return
        if self.path == "/v3/watch":
            self.send_response(200)
            self.end_headers()
            for chunk in WATCH.get(scen, []):
                if scen == "w-split":
                    for i in range(len(chunk)):
                        self.wfile.write(chunk[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.0005)
                else:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            time.sleep(10)  # a stream stays open
            return
        self.send_response(404)
        self.end_headers()


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
sys.exit(0)

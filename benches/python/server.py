"""A keep-alive HTTP/1.1 file server on loopback, in its own process: the stand-in for a
sidecar answering a binding call. Prints its port, then serves until killed."""

import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms stalls between header and body writes
    wbufsize = 65536  # one write per response (flushed after each request)

    def do_GET(self):
        with open(os.path.join(sys.argv[1], self.path.lstrip("/")), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""A bus client that runs as an unprivileged user for the polkit tests.

polkit_harness.py starts this script with the uid/gid of a test user (the
caller's identity on the bus is fixed when it connects, so the process has
its final credentials before it connects). It reads one JSON request per
line on stdin and answers one JSON line on stdout:

  {"op": "connect"}                   (re)connects; -> {"unique_name": ...}
  {"op": "close"}                     closes the connection
  {"op": "identity"}                  -> {"uid", "gid", "groups", "unique_name"}
  {"op": "calls", "calls": [CALL...], "close_after_send": false}
        sends every CALL at once (asynchronously) and waits for all replies;
        -> {"results": [RESULT...]} in the order of the calls.
        With close_after_send the connection is flushed and closed right
        after sending (no replies awaited): -> {"sent": n}
  {"op": "exit"}

  CALL   = {"dest", "path", "iface", "method", "sig", "args",
            "interactive": bool, "timeout_ms": int}
           an argument {"$v": [signature, value]} becomes a variant
  RESULT = {"ok": true, "value": ..., "elapsed": s}
         | {"ok": false, "error": name, "message": text, "elapsed": s}
"""

import json
import os
import sys
import time

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

ADDRESS = sys.argv[1]
conn = None


def connect():
    global conn
    close()
    conn = Gio.DBusConnection.new_for_address_sync(
        ADDRESS,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    conn.set_exit_on_close(False)
    return conn.get_unique_name()


def close():
    global conn
    if conn is not None and not conn.is_closed():
        try:
            conn.flush_sync(None)
        except GLib.Error:
            pass
        try:
            conn.close_sync(None)
        except GLib.Error:
            pass
    conn = None


def to_value(sig_hint, v):
    if isinstance(v, dict) and set(v) == {"$v"}:
        s, inner = v["$v"]
        return GLib.Variant(s, to_value(s, inner))
    if isinstance(v, list):
        return [to_value(None, x) for x in v]
    if isinstance(v, dict):
        return {k: to_value(None, x) for k, x in v.items()}
    return v


def params(call):
    sig = call.get("sig")
    if not sig:
        return None
    args = tuple(to_value(None, a) for a in call.get("args", []))
    return GLib.Variant(f"({sig})", args)


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def remote_error(e):
    name = Gio.DBusError.get_remote_error(e)
    msg = e.message
    if name:
        for prefix in (f"GDBus.Error:{name}: ", f"GDBus.Error:{name}"):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
                break
    else:
        name = f"(local:{e.domain}:{e.code})"
    return name, msg


def do_calls(calls, close_after_send):
    if conn is None or conn.is_closed():
        connect()
    results = [None] * len(calls)
    t0 = [0.0] * len(calls)

    def make_cb(i):
        def done(c, res, _data):
            el = time.monotonic() - t0[i]
            try:
                v, fds = c.call_with_unix_fd_list_finish(res)
                if fds is not None:
                    for fd in fds.steal_fds():
                        os.close(fd)
                results[i] = {"ok": True, "value": jsonable(v.unpack()), "elapsed": el}
            except GLib.Error as e:
                name, msg = remote_error(e)
                results[i] = {"ok": False, "error": name, "message": msg, "elapsed": el}
        return done

    for i, call in enumerate(calls):
        flags = Gio.DBusCallFlags.NONE
        if call.get("interactive"):
            flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
        t0[i] = time.monotonic()
        conn.call_with_unix_fd_list(call.get("dest", "org.domaind1"), call["path"], call["iface"],
                                    call["method"], params(call), None, flags,
                                    int(call.get("timeout_ms", 25000)), None, None,
                                    make_cb(i), None)
    if close_after_send:
        close()
        return {"sent": len(calls)}
    ctx = GLib.MainContext.default()
    while any(r is None for r in results):
        ctx.iteration(True)
    return {"results": results}


def handle(req):
    op = req["op"]
    if op == "connect":
        return {"unique_name": connect()}
    if op == "close":
        close()
        return {}
    if op == "identity":
        return {"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
                "unique_name": conn.get_unique_name() if conn and not conn.is_closed() else None}
    if op == "calls":
        return do_calls(req["calls"], req.get("close_after_send", False))
    if op == "exit":
        close()
        return {}
    raise ValueError(f"unknown op {op!r}")


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            out = handle(req)
        except Exception as e:  # reported to the harness, which fails the test
            out = {"exception": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        if req.get("op") == "exit":
            return


if __name__ == "__main__":
    main()

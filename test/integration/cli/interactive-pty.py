#!/usr/bin/env python3
"""Runs a command under a real pseudo-terminal, as a user at a terminal would, and plays a
script against it: the CLI tests' way to type into `berth run -it`.

Usage: interactive-pty.py ROWS COLS STEPS_JSON -- COMMAND [ARG...]
STEPS_JSON is a list of steps, played in order:
  {"expect": REGEX}         wait (at most "timeout" seconds, default 20) for the output so far
                            (since the previous expect) to match
  {"send": TEXT}            type TEXT (\\u0003 is Ctrl-C, \\u0010\\u0011 is Ctrl-P Ctrl-Q)
  {"resize": [ROWS, COLS]}  resize the terminal (the kernel sends SIGWINCH)
  {"sleep": SECONDS}
  {"signal": N}             send signal N to the command
Cursor-position queries (ESC [6n) are answered as a terminal would. Prints one JSON object: {"exitCode": N, "output": ALL_OUTPUT, "failed": MESSAGE|null,
"cooked": whether the terminal is back in its normal (echo, canonical) mode at the end}.
The command is killed if it outlives the script by more than 30 s.
"""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    sep = sys.argv.index("--")
    rows, cols, steps = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    argv = sys.argv[sep + 1:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    set_size(master, rows, cols)
    output = b""
    mark = 0
    failed = None
    status = None

    def pump(timeout):
        """Reads what the terminal has: "data", "idle" (nothing within timeout) or "eof"."""
        nonlocal output
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            return "idle"
        try:
            data = os.read(master, 65536)
        except OSError:
            return "eof"
        if not data:
            return "eof"
        # A terminal answers the cursor-position query busybox's line editor sends after
        # each prompt; without an answer it waits before reading input.
        for _ in range(data.count(b"\x1b[6n")):
            os.write(master, b"\x1b[1;1R")
        output += data
        return "data"

    for step in steps:
        if "expect" in step:
            deadline = time.monotonic() + step.get("timeout", 20)
            pattern = re.compile(step["expect"].encode(), re.S)
            alive = True
            while not pattern.search(output, mark):
                left = deadline - time.monotonic()
                if left <= 0 or not alive:
                    failed = "timed out waiting for %r" % step["expect"] if alive else "output ended before %r" % step["expect"]
                    break
                alive = pump(min(left, 0.1)) != "eof"
            if failed:
                break
            mark = pattern.search(output, mark).end()
        elif "send" in step:
            os.write(master, step["send"].encode())
        elif "resize" in step:
            set_size(master, *step["resize"])
        elif "signal" in step:
            os.kill(pid, step["signal"])
        elif "sleep" in step:
            end = time.monotonic() + step["sleep"]
            while time.monotonic() < end:
                pump(0.05)
    deadline = time.monotonic() + 30
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            failed = failed or "the command did not exit"
            continue
        pump(0.05)
    while pump(0) == "data":
        pass
    code = os.waitstatus_to_exitcode(status)
    lflag = termios.tcgetattr(master)[3]
    cooked = bool(lflag & termios.ECHO) and bool(lflag & termios.ICANON)
    print(json.dumps({"exitCode": code, "output": output.decode("utf-8", "replace"), "failed": failed, "cooked": cooked}))


main()

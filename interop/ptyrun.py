#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its password prompts.

usage: ptyrun.py PASSWORD CMD [ARG...]

The upstream client reads key passwords (key create, key create-master-key,
key import-with-master-key) from a terminal only. This runs CMD on a pty and
types PASSWORD each time the output shows a prompt ending in "Password: ".
It exits with CMD's status (124 after 60 s without finishing).
"""
import os, pty, select, sys, time

def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    password = sys.argv[1].encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    pending = b""
    deadline = time.time() + 60
    while True:
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            sys.stderr.write("ptyrun: timed out\n")
            return 124
        r, _, _ = select.select([fd], [], [], 0.2)
        if fd in r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            pending += data
            if pending.rstrip(b" *").endswith(b"Password:"):
                time.sleep(0.05)
                os.write(fd, password + b"\n")
                pending = b""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)

if __name__ == "__main__":
    sys.exit(main())

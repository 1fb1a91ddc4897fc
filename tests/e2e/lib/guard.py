#!/usr/bin/env python3
"""guard.py: stops what a run of the rig (a test or a bench) started when
that run dies without stopping it itself: SIGKILL, the OOM killer, ctest's
timeout (which kills the run's process tree, but not the postmaster that
pg_ctl left to init, nor children the run's death reparented to init).

The rig starts it once with a FIFO's read end as its stdin (the run holds
the only write end) and writes a line into it per thing to stop:
    proc PID START SIGNAL   a process (START: its start time, field 22 of
                            /proc/PID/stat, so that a pid reused after the
                            process ended is never signalled); SIGNAL: the
                            signal that stops it cleanly (QUIT: Postgres's
                            immediate shutdown, TERM, KILL)
    dir PATH                a directory to remove once the processes are gone
The FIFO's last writer gone (read as EOF: the run exited, however it
died) is the one event it waits for; then each registered process still
running as the same process gets its signal, then SIGKILL if it is still
there after 10 s, and each directory still there is removed. After a run's own cleanup there is
nothing left to do: its processes have ended and its directories are gone.

It leaves the run's process tree at once (fork, then a session of its own)
so that a kill of the tree (ctest's timeout) does not take it along.
"""
import os, select, shutil, signal, sys, time


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name, in brackets, may hold spaces: the fields after it
    # (state first: a zombie has ended, whoever reaps it)
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def main():
    if os.fork():
        os._exit(0)  # the rig's child ends here; the guard goes on, reparented
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the run's to handle
    os.set_blocking(0, True)  # the rig opened the read end without waiting for a writer
    procs, dirs = [], []
    for line in sys.stdin:
        word = line.split()
        if len(word) == 4 and word[0] == "proc" and word[1].isdigit():
            procs.append((int(word[1]), word[2], getattr(signal, "SIG" + word[3], signal.SIGKILL)))
        elif len(word) == 2 and word[0] == "dir":
            dirs.append(word[1])
    # each registered process still running as itself: a pidfd (it pins
    # the process, so the start time read after it is that process's; it
    # turns readable once the process has ended), then its signal
    running = []
    for pid, start, sig in procs:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # gone
        try:
            if start_time(pid) != start:
                raise ProcessLookupError  # ended, or the pid is another process's now
            signal.pidfd_send_signal(fd, sig)
            running.append(fd)
        except OSError:
            os.close(fd)
    deadline = time.monotonic() + 10
    while running and time.monotonic() < deadline:
        ended, _, _ = select.select(running, [], [], max(0.0, deadline - time.monotonic()))
        running = [fd for fd in running if fd not in ended]
    for fd in running:  # still there after 10 s
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


main()

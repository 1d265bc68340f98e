"""Peer watcher process: prints ``<CLOCK_MONOTONIC ns> <path>`` for every event a library delivers.

Usage: ``python bench/peer_watch.py {watchfiles,watchdog} DIR [--recursive]``. The library is used
with its defaults (what a user reaching for it would get). The time stamp is taken in this process
at delivery, the moment user code could act on the event. Prints ``READY`` once the watch is set.
"""

from __future__ import annotations

import sys
import time


def _emit(path: str) -> None:
    sys.stdout.write(f"{time.monotonic_ns()} {path}\n")
    sys.stdout.flush()


def run_watchfiles(path: str, recursive: bool) -> None:
    import watchfiles

    gen = watchfiles.watch(path, recursive=recursive, raise_interrupt=False, yield_on_timeout=False)
    print("READY", flush=True)
    for changes in gen:
        now = time.monotonic_ns()
        lines = "".join(f"{now} {p}\n" for _kind, p in changes)
        sys.stdout.write(lines)
        sys.stdout.flush()


def run_watchdog(path: str, recursive: bool) -> None:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # not a change
            dest = getattr(event, "dest_path", "")
            _emit(str(dest or event.src_path))

    obs = Observer()
    obs.schedule(Handler(), path, recursive=recursive)
    obs.start()
    print("READY", flush=True)
    try:
        while obs.is_alive():
            obs.join(1.0)
    finally:
        obs.stop()


def main() -> int:
    lib, path = sys.argv[1], sys.argv[2]
    recursive = "--recursive" in sys.argv[3:]
    try:
        {"watchfiles": run_watchfiles, "watchdog": run_watchdog}[lib](path, recursive)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

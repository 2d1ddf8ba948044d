"""Serve a landing directory as a provincial platform API until Ctrl-C.

    python -m platform_emulator --landing demo/landing --as-of 2026-10-31 [--port 8765] [--token-file FILE]

The token is taken from YAOCAI_PLATFORM_TOKEN, else a random one is made and
written to --token-file (mode 600) or, without it, printed once to this
terminal. Then, in another shell:

    export YAOCAI_PLATFORM_URL=<the printed URL> YAOCAI_PLATFORM_TOKEN=<the token>
    .venv/bin/yaocai run --source both --landing demo/landing --warehouse demo/warehouse --as-of 2026-10-31
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path

from platform_emulator.dataset import build_dataset
from platform_emulator.server import PlatformEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, type=Path)
    parser.add_argument("--as-of", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--token-file", type=Path)
    parser.add_argument("--seed", type=int, default=20260801)
    args = parser.parse_args(argv)

    token = os.environ.get("YAOCAI_PLATFORM_TOKEN", "").strip()
    generated = not token
    if generated:
        token = secrets.token_urlsafe(24)
    dataset = build_dataset(args.landing, args.as_of, seed=args.seed)
    emulator = PlatformEmulator(dataset, token)
    emulator.start(port=args.port)
    counts = ", ".join(f"{k} {v:,}" for k, v in dataset.truth["counts"].items())
    print(f"platform emulator: {emulator.url} ({counts}; clock {emulator.now})", flush=True)
    if generated and args.token_file:
        args.token_file.write_text(token + "\n")
        args.token_file.chmod(0o600)
        print(f"platform emulator: token written to {args.token_file}", flush=True)
    elif generated:
        print(f"platform emulator: export YAOCAI_PLATFORM_TOKEN={token}", flush=True)
    else:
        print("platform emulator: accepting the token in YAOCAI_PLATFORM_TOKEN", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

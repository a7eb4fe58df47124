"""doc/rpc.md is true to the daemon: every method osprey_tgt registers is
documented there, and every method documented there is registered (or is one
of rpc.py's client-side commands). Fails on a new RPC without documentation
and on documentation of an RPC that does not exist."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from osp_e2e import *   # noqa: F401,F403

DOC = os.path.join(ROOT, "doc", "rpc.md")
# rpc.py commands that are not JSON-RPC methods: they run in the client.
CLIENT_ONLY = {"load_config"}


def documented_methods(text):
    """Method names in the first column of the command tables and in the
    `### name` headings of the configuration section."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"^### ([a-z][a-z0-9_]+)\b", line)
        if m:
            names.add(m.group(1))
            continue
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for seg in re.findall(r"`([^`]+)`", first_cell):
            word = seg.split()[0]
            if re.fullmatch(r"[a-z][a-z0-9_]+", word):
                names.add(word)
    return names


def body():
    p = start_tgt("-m", "0x1")
    registered = set(rpc_json("rpc_get_methods"))
    check(len(registered) > 50, "osprey_tgt registers its methods (%d)" % len(registered))
    with open(DOC) as f:
        documented = documented_methods(f.read())
    missing = sorted(registered - documented)
    check(not missing, "every registered method is in doc/rpc.md (missing: %s)" % missing)
    stale = sorted(documented - registered - CLIENT_ONLY)
    check(not stale, "every method in doc/rpc.md is registered (not registered: %s)" % stale)
    stop_tgt(p)


sys.exit(run(body))

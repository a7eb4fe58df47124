"""Command modules of scripts/rpc.py.

Every module in this package except client.py (and names starting with '_')
is a command module: it defines `add_parser(subparsers)` and registers its
commands there, usually through `add_command()`.  rpc.py imports every such
module, so supporting a new library is one new file here.

Conventions that keep the command modules declarative:

- The destinations of a command's arguments ARE the JSON-RPC parameter names
  (use `dest=` when the option's name differs, e.g. `-t/--timeout-ms` ->
  `timeout`).  `params_of()` collects them and leaves out every value that is
  None, so an option that was not given is not sent and the daemon applies
  its own default.  Flags therefore use `default=None`
  (`flag(p, '-r', '--readonly')`) rather than argparse's implicit False.
- A destination starting with '_' is client-side only and never sent: rpc.py's
  own options (`_server`, `_timeout`, ...) and values like save_config's
  `_indent`.
- A command whose params need reshaping (MiB to blocks, nested objects) passes
  `build=fn`; fn takes the collected params dict and returns the one to send.
"""

import importlib
import json
import pkgutil
import shlex

from .client import DRY_RUN

# How a command prints its result (mirrors what SPDK's rpc.py does per command).
JSON = 'json'     # json.dumps(result, indent=2): objects, arrays, true/false, "quoted" strings
TEXT = 'text'     # like JSON, but a string result is printed raw (bdev names)
ARRAY = 'array'   # a list of names printed on one line, shell-quoted, space-separated
QUIET = None      # print nothing on success (setters, deletes)

NOT_COMMAND_MODULES = {'client'}


class UsageError(Exception):
    """Bad command-line input found after argparse (reported with exit code 1)."""


def add_command(subparsers, name, help, output=JSON, build=None, func=None):
    """Register the command `name`, which calls the JSON-RPC method of the same name.

    Returns the argparse parser so that the caller can add the arguments.
    `func(args)` replaces the default "send one request, print its result".
    """
    p = subparsers.add_parser(name, help=help, description=help)
    p.set_defaults(_func=func or call_method, _method=name, _output=output, _build=build)
    return p


def flag(p, *names, help=None, value=True, dest=None):
    """A switch that sends `value` when given and nothing when absent."""
    kwargs = {'action': 'store_const', 'const': value, 'default': None, 'help': help}
    if dest:
        kwargs['dest'] = dest
    return p.add_argument(*names, **kwargs)


def params_of(args):
    """The JSON-RPC params for `args`: every non-'_' destination that is not None."""
    return {k: v for k, v in vars(args).items() if not k.startswith('_') and v is not None}


def group(params, key, names):
    """Move the `names` present in params into a nested object params[key]."""
    inner = {n: params.pop(n) for n in names if n in params}
    params[key] = inner
    return params


def call_method(args):
    params = params_of(args)
    if args._build:
        params = args._build(params)
    print_result(args._client.call(args._method, params), args._output)


def print_result(result, output=JSON, out=None):
    if result is DRY_RUN or output is QUIET:
        return
    if output == ARRAY and isinstance(result, list):
        print(' '.join(shlex.quote(str(v)) for v in result), file=out)
    elif output in (TEXT, ARRAY) and isinstance(result, str):
        print(result, file=out)
    else:
        print(json.dumps(result, indent=2), file=out)


def command_modules():
    """Import and return every command module of this package, sorted by name."""
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith('_') or info.name in NOT_COMMAND_MODULES:
            continue
        mod = importlib.import_module('%s.%s' % (__name__, info.name))
        if hasattr(mod, 'add_parser'):
            mods.append(mod)
    return mods


def add_all_parsers(subparsers):
    for mod in command_modules():
        mod.add_parser(subparsers)

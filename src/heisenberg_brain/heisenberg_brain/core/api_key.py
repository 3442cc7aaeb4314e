"""The llama-server API key: where it comes from, and when one is required.

The key itself is never a ROS parameter (parameters are listed, echoed and logged): a
parameter names a file that holds it, or an environment variable that does. The file is
llama-server's own ``--api-key-file`` format (one key per line, ``#`` starts a comment);
a client sends its first key. A server bound beyond loopback must have a key: anyone on
the network could otherwise use it.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

DEFAULT_KEY_ENV = 'HEISENBERG_LLM_API_KEY'


class ApiKeyError(ValueError):
    """The configured key cannot be read, or a key is required and none is configured."""


def read_key_file(path: str | os.PathLike) -> str:
    """The first key in a llama-server key file; ApiKeyError naming the file when there is none."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ApiKeyError(f'API key file {path} cannot be read: {exc.strerror or exc}') from None
    for line in text.splitlines():
        key = line.strip()
        if key and not key.startswith('#'):
            return key
    raise ApiKeyError(f'API key file {path} holds no key (one key per line, # starts a comment)')


def resolve_api_key(key_file: str, key_env: str, environ=os.environ) -> str:
    """The key from key_file if given, else from the variable named key_env; '' when neither has one.

    A named file that is missing or empty is an error (the user meant a key); an unset or
    empty variable is not (it is only where a key is looked for by default).
    """
    if key_file:
        return read_key_file(key_file)
    return environ.get(key_env, '').strip() if key_env else ''


def is_loopback(host: str) -> bool:
    """Whether llama-server's --host (comma-separated addresses or .sock paths) stays on this machine."""
    for address in (part.strip() for part in host.split(',')):
        if address.endswith('.sock') or address == 'localhost':
            continue
        try:
            if not ipaddress.ip_address(address).is_loopback:
                return False
        except ValueError:   # a host name: it may resolve to any interface
            return False
    return True

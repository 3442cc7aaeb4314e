"""Two network namespaces joined by a veth pair: a robot and a server on a link of their own.

Made with iproute2 (``ip netns``, ``ip link``), which needs root. Each side has its address on
the link and its own loopback; a multicast route sends DDS discovery over the link, as a LAN's
default route would. Nothing leaves the two namespaces. ``close()`` deletes both (and so the
veth pair) and is safe to call twice; the names carry a tag (default: this process's id), so
parallel runs do not collide and a leftover from a killed run is recognisable.
"""

from __future__ import annotations

import os
import shutil
import subprocess

SUBNET = '10.231.0.{}/24'


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here; the message says why (for a test's skip)."""


def _ip(*args: str) -> None:
    result = subprocess.run(['ip', *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


class Link:
    """Namespaces ``robot`` and ``server`` (names in ``names``), 10.231.0.1 and .2 on a veth pair."""

    def __init__(self, tag: str = '', make: bool = True):
        """Make the link (make=False: the one another process made with this tag, which it removes)."""
        if shutil.which('ip') is None:
            raise NetnsUnavailable('no `ip` command (iproute2) on this machine')
        if os.geteuid() != 0:
            raise NetnsUnavailable('making network namespaces needs root')
        self.tag = tag or str(os.getpid())
        self.names = {'robot': f'hb-robot-{self.tag}', 'server': f'hb-server-{self.tag}'}
        self.devices = {'robot': f'hbr{self.tag}'[:15], 'server': f'hbs{self.tag}'[:15]}
        self.addresses = {'robot': SUBNET.format(1).split('/')[0], 'server': SUBNET.format(2).split('/')[0]}
        self._made: list[str] = []
        if not make:
            return
        try:
            for side, name in self.names.items():
                _ip('netns', 'add', name)
                self._made.append(name)
            _ip('link', 'add', self.devices['robot'], 'type', 'veth', 'peer', 'name', self.devices['server'])
            for index, side in enumerate(('robot', 'server'), start=1):
                name, device = self.names[side], self.devices[side]
                _ip('link', 'set', device, 'netns', name)
                _ip('-n', name, 'addr', 'add', SUBNET.format(index), 'dev', device)
                _ip('-n', name, 'link', 'set', device, 'up')
                _ip('-n', name, 'link', 'set', 'lo', 'up')
                _ip('-n', name, 'route', 'add', '224.0.0.0/4', 'dev', device)
        except BaseException:
            self.close()
            raise

    def wrapper(self, side: str) -> tuple[str, ...]:
        """The command prefix that runs a program on that side (it execs it: same pid, signals)."""
        return ('ip', 'netns', 'exec', self.names[side])

    def sent_bytes(self, side: str) -> int:
        """Bytes that side has sent over the link so far."""
        counter = f'/sys/class/net/{self.devices[side]}/statistics/tx_bytes'
        result = subprocess.run([*self.wrapper(side), 'cat', counter], capture_output=True, text=True,
                                timeout=10, check=True)
        return int(result.stdout)

    def close(self) -> None:
        while self._made:
            name = self._made.pop()
            subprocess.run(['ip', 'netns', 'delete', name], capture_output=True, timeout=10)

    def __enter__(self) -> 'Link':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

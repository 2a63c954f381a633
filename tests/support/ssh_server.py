"""A real OpenSSH server for the tests: Debian's sshd (package openssh-server, which .ci/run
installs when missing) on 127.0.0.1, on a free port, with a throwaway host key, user key and
configuration in a temporary folder, for the account that runs the tests.

Use it from a test module:

    from ssh_server import SshServer, sshd  # noqa: F401  (`sshd` is the pytest fixture)

    def test_something(sshd: SshServer) -> None:
        run_local.sh --on sshd.destination *sshd.options() ...

- `sshd.options(key=None)`: run_local.sh's options that reach it: --ssh-key (the authorized
  key, or another) and --ssh-option HostName=127.0.0.1, Port=N, a known_hosts file of its own
  (StrictHostKeyChecking=no), no other identities, no prompts, and SendEnv for AWS_*, TMPDIR,
  XDG_CACHE_HOME and LC_ALL: a command run there gets those of the test's environment (sshd's
  AcceptEnv), so a run there reads the moto endpoint and keeps its files in the test's folders.
  Its PATH is the one of the test (sshd's SetEnv), with the pinned `aws` first, after what the
  account's shell startup files put before it. SshServer(..., path_first=FOLDER) makes a server
  whose commands find FOLDER's programs before all others (not for scp, which it does not serve).
- `sshd.destination`: user@anything; HostName decides where ssh connects.

ssh reads the configuration of the account's home (not of $HOME): these options override
whatever it holds about the destination, which no real configuration names.
"""
import os
import getpass
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")  # Debian's sshd needs it when started as root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_key(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


class SshServer:
    """sshd -D on 127.0.0.1, in the foreground of a child process."""

    def __init__(self, workdir: Path, path_first: Optional[Path] = None) -> None:
        self.workdir = workdir
        self.path_first = path_first  # a folder whose programs a command there finds first
        self.port = 0
        self.user = getpass.getuser()
        self.destination = "%s@master.test" % self.user
        self.user_key = workdir / "user_key"
        self.other_key = workdir / "other_key"  # a key the server does not know
        self.known_hosts = workdir / "known_hosts"
        self.log = workdir / "sshd.log"
        self._proc = None  # type: Optional[subprocess.Popen]

    def config(self) -> str:
        path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
        # A shell's startup file (the account's ~/.bashrc) may put folders before SetEnv's PATH:
        # path_first comes after it, in a command run in the place of every command asked for.
        forced = ['ForceCommand PATH=%s:"$PATH" && eval "$SSH_ORIGINAL_COMMAND"' % self.path_first] \
            if self.path_first is not None else []
        return "\n".join([
            "ListenAddress 127.0.0.1",
            "Port %d" % self.port,
            "HostKey %s" % (self.workdir / "host_key"),
            "PidFile %s" % (self.workdir / "sshd.pid"),
            "AuthorizedKeysFile %s" % (self.workdir / "authorized_keys"),
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "AcceptEnv AWS_* TMPDIR XDG_CACHE_HOME LC_ALL",
            "SetEnv PATH=%s" % path,
            "Subsystem sftp internal-sftp",
        ] + forced + [""])

    def start(self) -> None:
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
        assert sshd, "the ssh tests need sshd: install openssh-server (.ci/run does)"
        if os.geteuid() == 0 and not PRIVILEGE_SEPARATION_DIR.is_dir():
            PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755)
        make_key(self.workdir / "host_key")
        make_key(self.user_key)
        make_key(self.other_key)
        (self.workdir / "authorized_keys").write_bytes(Path(str(self.user_key) + ".pub").read_bytes())
        for attempt in range(5):  # another process may take the free port first
            self.port = free_port()
            config = self.workdir / "sshd_config"
            config.write_text(self.config())
            with open(str(self.log), "ab") as log:
                self._proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=log)
            if self._listening():
                return
            self.stop()
        raise AssertionError("sshd did not start:\n" + self.log.read_text())

    def _listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    def options(self, key: Optional[Path] = None) -> List[str]:
        ssh_options = ["HostName=127.0.0.1", "Port=%d" % self.port, "StrictHostKeyChecking=no",
                       "UserKnownHostsFile=%s" % self.known_hosts, "IdentitiesOnly=yes", "BatchMode=yes",
                       "LogLevel=ERROR", "SendEnv=AWS_* TMPDIR XDG_CACHE_HOME LC_ALL"]
        options = ["--ssh-key", str(key or self.user_key)]
        for option in ssh_options:
            options += ["--ssh-option", option]
        return options


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """One sshd for the whole test run (one per xdist worker)."""
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""The fork server's own process (see forkserver.py), run as `python3 -S forkserver_main.py
SOCKET_FD MODULE,...` by the runner. Standard library only; it imports nothing of the package,
so that a task forked from it starts as a plain `python3 -S script` would.

It imports the modules and parses a sample command line with argparse, whose own regular
expressions are compiled on first use. Then it reads requests from the socket, each one a
length-prefixed marshal of ("warm", [SCRIPT, ...]): run the top level of each SCRIPT once under
another name than __main__, which leaves its regular expressions compiled in re's cache for every
child (only scripts that define and nothing else are given, see forkserver.defines_only);
("run", id, script, argv, env) with the task's stdin, stdout and stderr attached (SCM_RIGHTS);
or ("kill", pid). It answers ("started", id, pid), ("refused", id, reason) and
("exited", pid, returncode).
"""
import array
import marshal
import os
import select
import signal
import socket
import struct
import sys
import types

control = None  # type: socket.socket  # the socket to the runner, given by its fd in argv
# Whether the job was started with SIGINT ignored (a background job in a script, nohup): a
# python3 started then keeps it ignored, and so does a task forked from here.
SIGINT_IGNORED = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
FD = array.array("i").itemsize
codes = {}
children = set()


def send(message):
    body = marshal.dumps(message)
    control.sendall(struct.pack("!I", len(body)) + body)


def receive():
    header, fds = b"", []
    while len(header) < 4:
        data, ancdata, _, _ = control.recvmsg(4 - len(header), socket.CMSG_SPACE(3 * FD))
        if not data:
            return None, fds
        header += data
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[:len(payload) - len(payload) % FD]))
    size, = struct.unpack("!I", header)
    body = b""
    while len(body) < size:
        data = control.recv(size - len(body))
        if not data:
            return None, fds
        body += data
    return marshal.loads(body), fds


def returncode(status):
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def reap():
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        children.discard(pid)
        send(("exited", pid, returncode(status)))


def code_of(script):
    if script not in codes:
        with open(script, "rb") as f:
            data = f.read()
        codes[script] = marshal.loads(data[16:]) if script.endswith(".pyc") else compile(data, script, "exec")
    return codes[script]


def exit_status(stop):
    code = stop.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write("%s\n" % (code,))
    return 1


def run_as_main(code, script, argv, env, fds, keep):
    # In the child: become the task's process, run the script, end as `python3 -S script` does.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN if SIGINT_IGNORED else signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) | keep:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    status, interrupted = 0, False
    try:
        exec(code, main.__dict__)
    except SystemExit as stop:
        status = exit_status(stop)
    except BaseException:
        kind, error, trace = sys.exc_info()
        error.__traceback__ = trace.tb_next  # without this server's frame
        sys.excepthook(kind, error, trace.tb_next)
        status, interrupted = 1, kind is KeyboardInterrupt
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    if "atexit" in sys.modules:
        sys.modules["atexit"]._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):  # as CPython's exit skips them
            continue
        try:
            stream.flush()
        except Exception as error:  # as CPython's own exit reports it
            status = 120
            try:
                sys.stderr.write("Exception ignored in: %r\n%s: %s\n" % (stream, type(error).__name__, error))
                sys.stderr.flush()
            except Exception:
                pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def start(request_id, script, argv, env, fds, keep):
    try:
        code = code_of(script)
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        send(("refused", request_id, "%s: %s" % (script, error)))
        return
    pid = os.fork()
    if pid == 0:
        try:
            run_as_main(code, script, argv, env, fds, keep)
        finally:
            os._exit(1)
    children.add(pid)
    send(("started", request_id, pid))


def preload(modules):
    for name in modules:
        __import__(name)
    if "argparse" in sys.modules:
        warm_up_argparse(sys.modules["argparse"])


def warm(scripts):
    for script in scripts:
        try:
            exec(code_of(script), {"__name__": "__fork_server__", "__builtins__": __builtins__})
        except BaseException:
            pass  # its tasks will fail the same way, on their own


def warm_up_argparse(argparse):
    # argparse compiles a regular expression the first time a parser meets each kind of
    # argument: a task would do that (2-4 ms) before reading a byte. Here it is done once.
    parser = argparse.ArgumentParser(prog="warm-up")
    parser.add_argument("--one")
    parser.add_argument("--maybe", nargs="?", const="")
    parser.add_argument("--some", nargs="*")
    parser.add_argument("--more", nargs="+")
    parser.add_argument("--two", nargs=2)
    parser.add_argument("--flag", action="store_true")
    parser.add_argument("--choice", choices=["a"])
    parser.add_argument("item", nargs="?")
    parser.parse_args(["--one", "1", "--maybe", "--some", "--more", "x", "--two", "y", "z", "--flag",
                       "--choice", "a", "item"])


def serve():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C is the engine's to handle
    if hasattr(signal, "pthread_sigmask"):  # blocked by the runner for this start-up (forkserver.py)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    keep = {control.fileno(), wake_read, wake_write}
    while True:
        ready = select.select([control, wake_read], [], [])[0]
        if wake_read in ready:
            os.read(wake_read, 4096)
            reap()
        if control not in ready:
            continue
        message, fds = receive()
        try:
            if message is None:
                break
            if message[0] == "run" and len(fds) == 3:
                start(message[1], message[2], message[3], message[4], fds, keep)
            elif message[0] == "warm":
                warm(message[1])
            elif message[0] == "kill" and message[1] in children:
                os.kill(message[1], signal.SIGKILL)
        finally:
            for fd in fds:
                os.close(fd)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    signal.set_wakeup_fd(-1)
    while children:
        pid, status = os.waitpid(-1, 0)
        children.discard(pid)


if __name__ == "__main__":
    control = socket.socket(fileno=int(sys.argv[1]))
    preload(sys.argv[2].split(","))
    serve()
    os._exit(0)  # nothing is left to flush: the interpreter's clean-up would only make the job wait

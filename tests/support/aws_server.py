"""A real AWS endpoint for the tests: moto in server mode on 127.0.0.1, on a free port.

Use it from a test module (one server per module; the fixture is module-scoped):

    from aws_server import AwsServer, aws  # noqa: F401  (`aws` is the pytest fixture)

    def test_something(aws: AwsServer) -> None:
        aws.client("s3").create_bucket(Bucket="events")           # boto3 on the server
        subprocess.run(["./run_local.sh", ...], env=aws.env())     # the real AWS CLI, same server
        assert aws.changing_requests() == []                       # what the server was asked

- `aws.env(**extra)`: the environment for a process that uses the AWS CLI or boto3: the current
  one without any AWS_* setting, plus fake credentials, region us-east-1, empty AWS config and
  credentials files, `AWS_ENDPOINT_URL` (honoured by the AWS CLI v1 and v2 and by boto3 for every
  service), no instance-metadata look-ups, no pager, and the directory of the test Python (the
  venv's bin/, where tests/requirements.txt put the pinned `aws`) first on PATH.
  `aws.env(credentials=False)` leaves the credentials out.
- `aws.client(service)`: a boto3 client on the server.
- `aws.requests`: every request the server got, as `Request(method, path, operation)`;
  `aws.clear_requests()`, `aws.changing_requests()` (those that are not Get/List/Describe/Head).
- `aws.set_step_state(cluster_id, step_id, state)`: moto never moves an EMR step on by itself; this
  sets the state in moto's own EMR backend, as EMR would (COMPLETED, FAILED, ...).

The server runs in a thread of the pytest process (like moto's own ThreadedMotoServer, with the
same WSGI application as the `moto_server` command), so that a test can reach moto's backend for
what no API does. moto's backends are global to the process: `start()` resets them, so two
servers must not run at the same time in one pytest process.
Written against moto 5.2.5 (pinned in tests/requirements.txt): the backend attributes used by
`set_step_state` (clusters, steps, state, end_date_time, last_state_change_reason) are moto internals.
"""
import io
import os
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional
from urllib.parse import parse_qs

import pytest

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head")


class Request(NamedTuple):
    method: str
    path: str
    operation: str  # "AddJobFlowSteps", "GetCallerIdentity", or "S3 PUT" / "S3 GET" ...


def _operation(environ: Dict[str, Any], body: bytes) -> str:
    """The API operation of a request: X-Amz-Target (JSON APIs), Action (query APIs), else S3."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    form = parse_qs(environ.get("QUERY_STRING", "")) if "Action=" in environ.get("QUERY_STRING", "") \
        else parse_qs(body.decode("utf-8", "replace"))
    if "Action" in form:
        return form["Action"][0]
    return "S3 " + environ.get("REQUEST_METHOD", "")


def is_read_only(request: Request) -> bool:
    """A request that cannot change anything."""
    if request.operation.startswith("S3 "):
        return request.method in ("GET", "HEAD")
    return request.operation.startswith(READ_ONLY_PREFIXES)


class _Recorder:
    """WSGI middleware that notes every request before moto answers it."""

    def __init__(self, app: Callable, log: List[Request]) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        body = b""
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        self.log.append(Request(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                                _operation(environ, body)))
        return self.app(environ, start_response)


class AwsServer:
    """moto's server on 127.0.0.1 (port chosen by the OS), with a request log."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.requests = []  # type: List[Request]
        self._server = None  # type: Optional[Any]
        self._thread = None  # type: Optional[threading.Thread]
        self.endpoint = ""

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                                   create_backend_app)
        from werkzeug.serving import make_server

        app = _Recorder(DomainDispatcherApplication(create_backend_app), self.requests)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self.endpoint = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        for name in ("config", "credentials"):
            (self.workdir / name).write_text("")
        self.reset()

    def stop(self) -> None:
        if self._server is not None:
            self.reset()
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget every bucket, cluster, ... (moto's /moto-api/reset) and the request log."""
        urllib.request.urlopen(urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST"),
                               timeout=30).read()
        self.clear_requests()

    def clear_requests(self) -> None:
        del self.requests[:]

    def changing_requests(self) -> List[Request]:
        return [request for request in self.requests if not is_read_only(request)]

    def env(self, credentials: bool = True, **extra: str) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_CONFIG_FILE=str(self.workdir / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "credentials"),
            AWS_DEFAULT_REGION=REGION,
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        if credentials:
            env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        env.update(extra)
        return env

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=REGION).client(service, endpoint_url=self.endpoint)

    def set_step_state(self, cluster_id: str, step_id: str, state: str, message: str = "") -> None:
        """Move an EMR step to `state` in moto's backend (moto 5.2.5's model)."""
        from moto.core.utils import utcnow
        from moto.emr.models import emr_backends

        cluster = emr_backends[ACCOUNT_ID][REGION].clusters[cluster_id]
        step = next(step for step in cluster.steps if step.id == step_id)
        step.state = state
        if state in ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"):
            step.end_date_time = utcnow()
        if message:
            step.last_state_change_reason = message

    def step_ids(self, cluster_id: str) -> List[str]:
        """The ids of a cluster's steps, oldest first, straight from moto's backend."""
        from moto.emr.models import emr_backends

        return [step.id for step in emr_backends[ACCOUNT_ID][REGION].clusters[cluster_id].steps]


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsServer]:
    """One moto server for the test module that imports this fixture."""
    server = AwsServer(tmp_path_factory.mktemp("aws"))
    server.start()
    try:
        yield server
    finally:
        server.stop()

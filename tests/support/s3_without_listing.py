"""S3 as a role without s3:ListBucket sees it: a missing key is 403 AccessDenied, not 404.

moto (and LocalStack) answer NoSuchKey whatever the caller may do; this loopback proxy in front of
moto answers what AWS answers a role that may read objects but not list the bucket, so the real
client (real sockets, botocore's own parsing) meets the real error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    b"<RequestId>0000000000000000</RequestId><HostId>proxy</HostId></Error>"
)
# set by the client or the server per connection; the proxy's own connections carry their own
HOP_BY_HOP = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "content-encoding"}
)


@dataclass
class DenyingProxy:
    url: str
    # how many missing keys were answered 403 instead of 404
    denied: int = 0


def _is_missing_key(request: web.Request, status: int, body: bytes) -> bool:
    if status != 404:
        return False
    if request.method == "HEAD":
        # no body to tell a missing key from a missing bucket: an object path names a key
        return request.path.strip("/").count("/") >= 1
    return b"<Code>NoSuchKey</Code>" in body


def _forwardable(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


@contextlib.asynccontextmanager
async def s3_without_list_permission(upstream: str) -> AsyncIterator[DenyingProxy]:
    """A proxy to `upstream` (moto) that answers a missing key as AWS does without ListBucket."""
    async with ClientSession(auto_decompress=False) as session:
        proxy = DenyingProxy(url="")

        async def forward(request: web.Request) -> web.Response:
            async with session.request(
                request.method,
                f"{upstream}{request.raw_path}",
                headers=_forwardable(CIMultiDict(request.headers)),
                data=await request.read(),
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                if _is_missing_key(request, answer.status, body):
                    proxy.denied += 1
                    denied = b"" if request.method == "HEAD" else ACCESS_DENIED
                    return web.Response(status=403, body=denied, content_type="application/xml")
                return web.Response(
                    status=answer.status, body=body, headers=_forwardable(answer.headers.copy())
                )

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        proxy.url = str(server.make_url("")).rstrip("/")
        try:
            yield proxy
        finally:
            await server.close()

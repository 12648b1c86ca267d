"""The JWKS as a plain JSON document over HTTP, for Envoy's jwt_authn (`remote_jwks`).

Envoy cannot call a gRPC method to fetch keys, so the auth service also serves
`GET /.well-known/jwks.json` (the same keys as the GetJwks RPC) from the same process.
"""

from __future__ import annotations

from aiohttp import web

from trademesh.services.auth.keys import KeyRing

JWKS_PATH = "/.well-known/jwks.json"


async def start_jwks_http(keys: KeyRing, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the key ring's public keys; return the runner (for cleanup) and the bound port."""
    document = {"keys": keys.jwks()}

    async def jwks(request: web.Request) -> web.Response:
        # Short cache: a rotated-in key is picked up within minutes, and Envoy refetches on its own schedule.
        return web.json_response(document, headers={"Cache-Control": "public, max-age=300"})

    app = web.Application()
    app.router.add_get(JWKS_PATH, jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site.port

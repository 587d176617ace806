"""The {{name}} plugin.

Each phase below does what the gateway does without it: replace the bodies with your policy.
The host's interfaces are the modules of `wit_world.imports` (`context`, `log`, `state`, and
`http` for the request and response); `componentize-py -d wit -w plugin bindings .` writes them
out for an editor. Raising `componentize_py_types.Err("message")` fails the call.
"""

import json

from wit_world import exports
from wit_world.imports import http, types


class Handler(exports.Handler):
    def init(self, config: str) -> types.Needs:
        """Called once per instance with the manifest's config as JSON text. Returns the phases
        to call: each is an entry into the interpreter per request, so drop ON_RESPONSE if the
        plugin needs nothing of the response (`req.set_response_header` in on_request sets a
        response header known from the request)."""
        json.loads(config)
        return types.Needs.ON_REQUEST | types.Needs.ON_RESPONSE

    def on_request(self, req: http.Request) -> types.RequestAction:
        """Sees the request before the upstream: change it, or answer with
        types.RequestAction_Respond(types.Reply(status, headers, body))."""
        return types.RequestAction_Continue()

    def on_response(self, req: http.Request, resp: http.Response) -> None:
        """Sees the response before the client."""

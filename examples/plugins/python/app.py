"""`screen`: refuses a request whose configured header has a denied value, and tags the others
in the context and with an `x-screen` response header. Both are decided in `on_request`, so the
plugin needs no `on_response`: each request enters the interpreter once."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import context, http, types


class Handler(exports.Handler):
    header = ""
    deny: frozenset = frozenset()

    def init(self, config: str) -> types.Needs:
        settings = json.loads(config)
        unknown = set(settings) - {"header", "deny"}
        if unknown:
            raise Err(f"unknown config key `{sorted(unknown)[0]}`: expected `header` and `deny`")
        header, deny = settings.get("header"), settings.get("deny")
        if not isinstance(header, str) or not header:
            raise Err('`header` must name a request header, such as "user-agent"')
        if not isinstance(deny, list) or not all(isinstance(v, str) for v in deny):
            raise Err("`deny` must be a list of strings")
        Handler.header = header
        Handler.deny = frozenset(v.lower() for v in deny)
        return types.Needs.ON_REQUEST

    def on_request(self, req: http.Request) -> types.RequestAction:
        value = req.header(Handler.header)
        if value is not None and value.lower() in Handler.deny:
            body = json.dumps({"error": "forbidden", "message": f"{Handler.header} is denied"})
            headers = [types.Header("content-type", "application/json")]
            return types.RequestAction_Respond(types.Reply(403, headers, body.encode()))
        context.set("screen", "allowed")
        req.set_response_header("x-screen", "allowed")
        return types.RequestAction_Continue()

    def on_response(self, req: http.Request, resp: http.Response) -> None:
        """Never called (`init` did not ask for it), but the contract's export has it."""

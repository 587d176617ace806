// The {{name}} plugin. Each phase below does what the gateway does without it: replace the
// bodies with your policy. The host's interfaces are modules named by the contract
// (wit/plugin.wit): `portcullis:plugin/context@{{wit_version}}` (get, set, remove),
// `portcullis:plugin/log@{{wit_version}}` (write, enabled), `portcullis:plugin/state@{{wit_version}}`.
// The request and response are objects with the contract's methods in camelCase:
// req.header("user-agent"), resp.setHeader("x-a", "b"). Throwing a string fails the call.

export const handler = {
  // Called once per instance with the manifest's config as JSON text. Throw to refuse it.
  init(config) {
    JSON.parse(config);
    // Each phase is an entry into the engine per request: set onResponse to false if the plugin
    // needs nothing of the response (req.setResponseHeader in onRequest sets a response header).
    return { onRequest: true, onResponse: true };
  },

  // Sees the request before the upstream: change it, or answer with
  // { tag: "respond", val: { status, headers: [{ name, value }], body: Uint8Array } }.
  onRequest(req) {
    return { tag: "continue" };
  },

  // Sees the response before the client.
  onResponse(req, resp) {},
};

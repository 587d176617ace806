// `screen`: refuses a request whose configured header has a denied value, and tags the others
// in the context and with an `x-screen` response header. Both are decided in onRequest, so the
// plugin needs no onResponse: each request enters it once.

import { set } from "portcullis:plugin/context@0.1.3";

let header = "";
let deny = [];

export const handler = {
  init(config) {
    const { header: name, deny: values, ...unknown } = JSON.parse(config);
    const extra = Object.keys(unknown);
    if (extra.length > 0) throw `unknown config key \`${extra[0]}\`: expected \`header\` and \`deny\``;
    if (typeof name !== "string" || name === "")
      throw '`header` must name a request header, such as "user-agent"';
    if (!Array.isArray(values) || !values.every((v) => typeof v === "string"))
      throw "`deny` must be a list of strings";
    header = name;
    deny = values.map((v) => v.toLowerCase());
    return { onRequest: true, onResponse: false };
  },

  onRequest(req) {
    const value = req.header(header);
    if (value !== undefined && deny.includes(value.toLowerCase())) {
      const body = JSON.stringify({ error: "forbidden", message: `${header} is denied` });
      return {
        tag: "respond",
        val: {
          status: 403,
          headers: [{ name: "content-type", value: "application/json" }],
          body: new TextEncoder().encode(body),
        },
      };
    }
    set("screen", "allowed");
    req.setResponseHeader("x-screen", "allowed");
    return { tag: "continue" };
  },

  // Never called (init did not ask for it), but the contract's export has it.
  onResponse(req, resp) {},
};

// The {{name}} plugin. Each phase below does what the gateway does without it: replace the
// bodies with your policy. The functions you may call are declared in build/gen/plugin.h,
// generated from the contract by `portcullis plugin build` (`portcullis plugin bindings --lang c`
// writes them anywhere): portcullis_plugin_http_method_request_header, ..._context_set, ...
//
// Memory: strings and lists the host passes in are yours to free (the *_free functions); what
// you return is freed by the generated glue after the host has copied it.

#include <stdlib.h>

#include "plugin.h"

// Called once per instance with the manifest's config as JSON text. Return false with a message
// in *err to refuse the config: the gateway then refuses the manifest.
bool exports_portcullis_plugin_handler_init(plugin_string_t *config,
                                            exports_portcullis_plugin_handler_needs_t *ret,
                                            plugin_string_t *err) {
  (void)err;
  plugin_string_free(config);
  // Each phase is a call per request: leave out ..._NEEDS_ON_RESPONSE if the plugin needs
  // nothing of the response (a response header known here is set with
  // portcullis_plugin_http_method_request_set_response_header in on-request).
  *ret = PORTCULLIS_PLUGIN_TYPES_NEEDS_ON_REQUEST | PORTCULLIS_PLUGIN_TYPES_NEEDS_ON_RESPONSE;
  return true;
}

// Sees the request before the upstream: change it, or answer with a reply
// (ret->tag = PORTCULLIS_PLUGIN_TYPES_REQUEST_ACTION_RESPOND).
bool exports_portcullis_plugin_handler_on_request(
    exports_portcullis_plugin_handler_borrow_request_t req,
    exports_portcullis_plugin_handler_request_action_t *ret, plugin_string_t *err) {
  (void)req;
  (void)err;
  ret->tag = PORTCULLIS_PLUGIN_TYPES_REQUEST_ACTION_CONTINUE;
  return true;
}

// Sees the response before the client.
bool exports_portcullis_plugin_handler_on_response(
    exports_portcullis_plugin_handler_borrow_request_t req,
    exports_portcullis_plugin_handler_borrow_response_t resp, plugin_string_t *err) {
  (void)req;
  (void)resp;
  (void)err;
  return true;
}

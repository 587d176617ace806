// `screen`: refuses a request whose configured header has a denied value, and tags the others
// in the context and with an `x-screen` response header. Both are decided in on-request, so the
// plugin needs no on-response: each request enters it once.
//
// The functions called here are declared in build/gen/plugin.h, which `portcullis plugin build`
// generates from the contract. Ownership follows the canonical ABI: what the host passes in is
// ours to free; what we return is freed by the generated glue once the host has copied it.

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define MAX_DENIED 64
#define MAX_TEXT 256

// The config, parsed once per instance by init.
static char header[MAX_TEXT];
static char denied[MAX_DENIED][MAX_TEXT];
static size_t denied_count;

// --- A small JSON reader for the config: an object of strings and lists of strings. ---------

typedef struct {
  const char *at;
  const char *end;
  const char *error;
} reader_t;

static void skip_space(reader_t *r) {
  while (r->at < r->end && isspace((unsigned char)*r->at)) r->at++;
}

static bool expect(reader_t *r, char c) {
  skip_space(r);
  if (r->at < r->end && *r->at == c) {
    r->at++;
    return true;
  }
  return false;
}

// Reads a JSON string into out (NUL-terminated, at most MAX_TEXT - 1 bytes). Escapes other
// than \uXXXX are decoded; \u escapes are accepted for ASCII only.
static bool read_string(reader_t *r, char out[MAX_TEXT]) {
  if (!expect(r, '"')) return r->error = "expected a string", false;
  size_t len = 0;
  while (r->at < r->end && *r->at != '"') {
    char c = *r->at++;
    if (c == '\\') {
      if (r->at >= r->end) break;
      char e = *r->at++;
      switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          unsigned code = 0;
          if (r->end - r->at < 4 || sscanf(r->at, "%4x", &code) != 1 || code > 0x7f)
            return r->error = "only ASCII \\u escapes are supported", false;
          r->at += 4;
          c = (char)code;
          break;
        }
        default: c = e;  // \" \\ \/
      }
    }
    if (len + 1 >= MAX_TEXT) return r->error = "a string is longer than 255 bytes", false;
    out[len++] = c;
  }
  if (!expect(r, '"')) return r->error = "unterminated string", false;
  out[len] = '\0';
  return true;
}

static bool read_config(const char *text, size_t len, const char **error) {
  reader_t r = {text, text + len, NULL};
  bool has_header = false, has_deny = false;
  denied_count = 0;
  if (!expect(&r, '{')) return *error = "the config is not a JSON object", false;
  if (!expect(&r, '}')) {
    do {
      char key[MAX_TEXT];
      if (!read_string(&r, key) || !expect(&r, ':')) break;
      if (strcmp(key, "header") == 0) {
        if (!read_string(&r, header)) return *error = "`header` must be a string", false;
        has_header = true;
      } else if (strcmp(key, "deny") == 0) {
        if (!expect(&r, '[')) return *error = "`deny` must be a list of strings", false;
        if (!expect(&r, ']')) {
          do {
            if (denied_count == MAX_DENIED) return *error = "`deny` lists more than 64 values", false;
            if (!read_string(&r, denied[denied_count++]))
              return *error = "`deny` must be a list of strings", false;
          } while (expect(&r, ','));
          if (!expect(&r, ']')) return *error = "`deny` must be a list of strings", false;
        }
        has_deny = true;
      } else {
        return *error = "unknown config key: expected `header` and `deny`", false;
      }
    } while (expect(&r, ','));
    if (r.error || !expect(&r, '}')) return *error = r.error ? r.error : "malformed config", false;
  }
  if (!has_header || header[0] == '\0')
    return *error = "`header` must name a request header, such as \"user-agent\"", false;
  if (!has_deny) return *error = "`deny` must be a list of strings", false;
  return true;
}

// --- Helpers over the generated bindings. ----------------------------------------------------

static plugin_string_t borrowed(const char *text) {
  plugin_string_t s;
  plugin_string_set(&s, text);
  return s;
}

static void set_error(plugin_string_t *err, const char *message) {
  plugin_string_dup(err, message);
}

static bool is_denied(const plugin_string_t *value) {
  for (size_t i = 0; i < denied_count; i++) {
    size_t n = strlen(denied[i]);
    if (n == value->len && strncasecmp(denied[i], (const char *)value->ptr, n) == 0) return true;
  }
  return false;
}

// --- The handler. ----------------------------------------------------------------------------

bool exports_portcullis_plugin_handler_init(plugin_string_t *config,
                                            exports_portcullis_plugin_handler_needs_t *ret,
                                            plugin_string_t *err) {
  const char *error = NULL;
  bool ok = read_config((const char *)config->ptr, config->len, &error);
  plugin_string_free(config);
  if (!ok) {
    set_error(err, error);
    return false;
  }
  *ret = PORTCULLIS_PLUGIN_TYPES_NEEDS_ON_REQUEST;
  return true;
}

bool exports_portcullis_plugin_handler_on_request(
    exports_portcullis_plugin_handler_borrow_request_t req,
    exports_portcullis_plugin_handler_request_action_t *ret, plugin_string_t *err) {
  plugin_string_t name = borrowed(header);
  plugin_string_t value;
  if (portcullis_plugin_http_method_request_header(req, &name, &value)) {
    bool deny = is_denied(&value);
    plugin_string_free(&value);
    if (deny) {
      char body[MAX_TEXT * 2];
      int n = snprintf(body, sizeof body, "{\"error\":\"forbidden\",\"message\":\"%s is denied\"}",
                       header);
      portcullis_plugin_types_header_t *headers = malloc(sizeof *headers);
      plugin_string_dup(&headers[0].name, "content-type");
      plugin_string_dup(&headers[0].value, "application/json");
      uint8_t *bytes = malloc((size_t)n);
      memcpy(bytes, body, (size_t)n);
      ret->tag = PORTCULLIS_PLUGIN_TYPES_REQUEST_ACTION_RESPOND;
      ret->val.respond.status = 403;
      ret->val.respond.headers.ptr = headers;
      ret->val.respond.headers.len = 1;
      ret->val.respond.body.ptr = bytes;
      ret->val.respond.body.len = (size_t)n;
      return true;
    }
  }
  plugin_string_t key = borrowed("screen"), tag = borrowed("allowed");
  portcullis_plugin_context_set(&key, &tag);
  plugin_string_t field = borrowed("x-screen");
  portcullis_plugin_http_edit_error_t edit_error;
  if (!portcullis_plugin_http_method_request_set_response_header(req, &field, &tag, &edit_error)) {
    *err = edit_error;  // the edit error is a string: hand it on as ours
    return false;
  }
  ret->tag = PORTCULLIS_PLUGIN_TYPES_REQUEST_ACTION_CONTINUE;
  return true;
}

// Never called (init did not ask for it), but the contract's export has it.
bool exports_portcullis_plugin_handler_on_response(
    exports_portcullis_plugin_handler_borrow_request_t req,
    exports_portcullis_plugin_handler_borrow_response_t resp, plugin_string_t *err) {
  (void)req;
  (void)resp;
  (void)err;
  return true;
}

/* answer.c: the API's answers (api_int.h): JSON bodies, the error object,
 * the status recorded for the metrics. */
#include "api_int.h"
#include "json_check.h"
#include "log.h"
#include "pw_error.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request an MHD thread is handling (set by on_request), so that the
 * status of the answer it queues is recorded for the metrics. */
static _Thread_local api_request *current;

void api_answering(api_request *rq)
{
	current = rq;
}

enum MHD_Result api_send_body(struct MHD_Connection *conn, unsigned status, char *body, const char *content_type,
			      const char *extra_name, const char *extra_value)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!res) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(res, "Content-Type", content_type);
	MHD_add_response_header(res, "Cache-Control", "no-store");
	if (extra_name)
		MHD_add_response_header(res, extra_name, extra_value);
	enum MHD_Result r = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	if (current)
		current->status = status;
	return r;
}

enum MHD_Result api_send_json(struct MHD_Connection *conn, unsigned status, char *body, const char *extra_name,
			      const char *extra_value)
{
	return api_send_body(conn, status, body, "application/json", extra_name, extra_value);
}

enum MHD_Result api_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *param,
			       const char *extra_name, const char *extra_value, const char *fmt, ...)
{
	char msg[300], safe[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a message may quote a value of the request: bytes that are not
	 * UTF-8 (or a character cut by the bound) as \xNN, so that the answer
	 * stays UTF-8 JSON */
	text_escape(safe, sizeof(safe), msg);
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", safe);
	if (param) { /* a field name may be the request's own (not a field of this request) */
		char param_safe[200];
		text_escape(param_safe, sizeof(param_safe), param);
		cJSON_AddStringToObject(e, "param", param_safe);
	} else
		cJSON_AddNullToObject(e, "param");
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body)
		return MHD_NO;
	return api_send_json(conn, status, body, extra_name, extra_value);
}

/* Answer a query that failed: 503 with Retry-After; the reason (already
 * scrubbed of the DSN's password) goes to the log only. */
enum MHD_Result api_query_failed(struct MHD_Connection *conn, int r, const char *what, const char *err)
{
	log_emit(LOG_LEVEL_WARN, "api", -1, "%s: postgres: %s", what, err);
	if (r == PW_ESCHEMA)
		return api_send_error(conn, 503, "unavailable", NULL, "Retry-After", "10", "%s",
				      "the database is not migrated to this server's version yet: try again later");
	return api_send_error(conn, 503, "unavailable", NULL, "Retry-After", "1",
			      "the database did not answer: try again");
}

/* The field a "field: reason" message names (a path such as
 * xpub.chains[0]: the text before the first colon, all of it when there
 * is none) copied into buf, or NULL: nothing before the colon, a name
 * longer than buf or the root ("$: ..."), which are the body's, not a
 * field's. */
static const char *param_of(const char *err, char *buf, size_t buflen)
{
	size_t n = strcspn(err, ":");
	if (n == 0 || n >= buflen || err[0] == '$')
		return NULL;
	memcpy(buf, err, n);
	buf[n] = '\0';
	return buf;
}

enum MHD_Result api_answer_call(struct MHD_Connection *conn, int r, char *json, bool created, const char *err,
				const char *what)
{
	switch (r) {
	case 0: return api_send_json(conn, created ? 201 : 200, json, NULL, NULL);
	case PW_ENOTFOUND: return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no such %s", what);
	case PW_EREFUSED: return api_send_error(conn, 409, "conflict", NULL, NULL, NULL, "%s", err);
	case PW_EINVAL: {
		char param[64];
		return api_send_error(conn, 400, "invalid_parameter", param_of(err, param, sizeof(param)), NULL, NULL,
				      "%s", err);
	}
	case PW_EPARSE: return API_BAD_PARAM(conn, "cursor", "cursor: not a cursor this API gave");
	case PW_ECONFIG:
		log_warn("api: %s", err);
		return api_send_error(conn, 503, "not_configured", NULL, NULL, NULL,
				      "this server holds no key to seal webhook secrets with (PAYWATCH_SECRET_KEY)");
	case PW_EDB:
	case PW_ESCHEMA: return api_query_failed(conn, r, what, err);
	default: return api_send_error(conn, 500, "internal", NULL, NULL, NULL, "%s", pw_strerror(r));
	}
}

const char *api_field_not_in(const cJSON *o, const char *const *allowed)
{
	const cJSON *f;
	cJSON_ArrayForEach (f, o) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, f->string) != 0)
			a++;
		if (!*a)
			return f->string;
	}
	return NULL;
}

cJSON *api_body_object(struct MHD_Connection *conn, const char *body, size_t len, const char *const *allowed,
		       const char *what, enum MHD_Result *answered)
{
	char why[200];
	int r = body && len ? json_check_strict(body, len, why, sizeof(why)) : 0; /* "path: reason" */
	if (r < 0) { /* a syntax error is the body's, wherever it sits; a value's names its field */
		char param[64];
		*answered = API_BAD_PARAM(conn, r == PW_EPARSE ? NULL : param_of(why, param, sizeof(param)), "%s", why);
		return NULL;
	}
	cJSON *o = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		*answered = API_BAD_PARAM(conn, NULL, "the body must be a JSON object");
		return NULL;
	}
	const char *stranger = api_field_not_in(o, allowed);
	if (stranger) {
		*answered = API_BAD_PARAM(conn, stranger, "%.64s: not a field of %s", stranger, what);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

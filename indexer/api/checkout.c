/* checkout.c: the hosted checkout page of an invoice (api_int.h):
 *   GET /pay/{id}            the page: merchant, amount and token, the
 *                            address with a copy button, a QR code of the
 *                            payment URI (libqrencode, drawn as inline
 *                            SVG), the time left and the status;
 *   GET /pay/{id}/status     what the page updates itself from (JSON);
 *   GET /assets/checkout.js, .css, .svg  its script, style and icon.
 * No key: the invoice id (128 random bits) is the capability, and the
 * answers show nothing else of the merchant (no metadata, no reference).
 * Everything is served from here: no external resource, and a
 * Content-Security-Policy allowing this origin's script, style and fetch
 * only (no inline script or style). */
#include "api_int.h"
#include "buf.h"
#include "invoice_pg.h"
#include "pw_error.h"

#include <cjson/cJSON.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKOUT_CSP                                                                                                   \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"                 \
	" base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define QR_TEXT_MAX 1024 /* bytes of a payment URI drawn as a QR code */
#define QR_QUIET 4       /* modules of white around the code (ISO/IEC 18004) */

extern const char checkout_js[], checkout_css[], checkout_svg[];

/* Queue body (malloc'd, freed here) with the page's security headers. */
static enum MHD_Result send_page(struct MHD_Connection *conn, unsigned status, char *body, const char *type)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!res) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(res, "Content-Type", type);
	MHD_add_response_header(res, "Cache-Control", "no-store");
	MHD_add_response_header(res, "Content-Security-Policy", CHECKOUT_CSP);
	MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(res, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(res, "X-Frame-Options", "DENY");
	enum MHD_Result r = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return r;
}

/* s with & < > " ' escaped for HTML text and attribute values. */
static int put_escaped(pw_buf *b, const char *s)
{
	int r = 0;
	for (; r == 0 && s && *s; s++) {
		switch (*s) {
		case '&': r = buf_append(b, "&amp;", 5); break;
		case '<': r = buf_append(b, "&lt;", 4); break;
		case '>': r = buf_append(b, "&gt;", 4); break;
		case '"': r = buf_append(b, "&quot;", 6); break;
		case '\'': r = buf_append(b, "&#39;", 5); break;
		default: r = buf_append(b, s, 1);
		}
	}
	return r;
}

/* The QR code of text (byte mode, error correction M) as an inline SVG
 * element: one path of the dark modules, runs of a row merged, on white
 * with the quiet zone. 0, PW_EINVAL (text too long), PW_ENOMEM. */
static int put_qr_svg(pw_buf *b, const char *text)
{
	if (strlen(text) > QR_TEXT_MAX)
		return PW_EINVAL;
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!qr)
		return PW_ENOMEM;
	int w = qr->width, side = w + 2 * QR_QUIET;
	int r = buf_appendf(b,
			    "<svg id=\"qr\" role=\"img\" aria-labelledby=\"qr-title\" viewBox=\"0 0 %d %d\""
			    " shape-rendering=\"crispEdges\" xmlns=\"http://www.w3.org/2000/svg\">"
			    "<title id=\"qr-title\">QR code of the payment request</title>"
			    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
			    side, side, side, side);
	for (int y = 0; r == 0 && y < w; y++)
		for (int x = 0; r == 0 && x < w;) {
			if (!(qr->data[y * w + x] & 1)) {
				x++;
				continue;
			}
			int run = 1;
			while (x + run < w && (qr->data[y * w + x + run] & 1))
				run++;
			r = buf_appendf(b, "M%d %dh%dv1h-%dz", x + QR_QUIET, y + QR_QUIET, run, run);
			x += run;
		}
	QRcode_free(qr);
	return r ? r : buf_appendf(b, "\"/></svg>");
}

static enum MHD_Result not_found_page(struct MHD_Connection *conn)
{
	char *body =
		strdup("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>No such invoice"
		       "</title></head><body><main><h1>No such invoice</h1></main></body></html>\n");
	return body ? send_page(conn, 404, body, "text/html; charset=utf-8") : MHD_NO;
}

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* "M:SS" or "H:MM:SS" */
static void format_left(long long s, char *out, size_t n)
{
	if (s >= 3600)
		snprintf(out, n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, n, "%lld:%02lld", s / 60, s % 60);
}

static const char *status_text(const char *status)
{
	return strcmp(status, "new") == 0          ? "Waiting for payment"
	       : strcmp(status, "processing") == 0 ? "Payment seen, waiting for confirmations"
	       : strcmp(status, "paid") == 0       ? "Paid"
	       : strcmp(status, "expired") == 0    ? "Expired"
	       : strcmp(status, "cancelled") == 0  ? "Cancelled"
						   : status;
}

/* The page of checkout JSON (invoice_pg_checkout). NULL on out of memory. */
static char *page_html(const cJSON *doc)
{
	const cJSON *inv = cJSON_GetObjectItemCaseSensitive(doc, "invoice");
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(inv, "token");
	const cJSON *left = cJSON_GetObjectItemCaseSensitive(doc, "seconds_left");
	const char *uri = str_of(inv, "payment_uri"), *address = str_of(inv, "address");
	const char *symbol = str_of(token, "symbol"), *status = str_of(inv, "status");
	long long secs = cJSON_IsNumber(left) ? (long long)left->valuedouble : 0;
	char left_text[32];
	format_left(secs, left_text, sizeof(left_text));
	pw_buf b;
	buf_init(&b, (size_t)4 << 20);
	int r = buf_appendf(&b,
			    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Pay ");
#define ESC(s) (r = r ? r : put_escaped(&b, s))
#define LIT(...) (r = r ? r : buf_appendf(&b, __VA_ARGS__))
	ESC(str_of(inv, "amount"));
	LIT(" ");
	ESC(symbol);
	LIT(" to ");
	ESC(str_of(inv, "merchant_id"));
	LIT("</title><link rel=\"icon\" href=\"/assets/checkout.svg\" type=\"image/svg+xml\">"
	    "<link rel=\"stylesheet\" href=\"/assets/checkout.css\"></head>\n<body><main id=\"checkout\" data-invoice=\"");
	ESC(str_of(inv, "id"));
	LIT("\" data-seconds-left=\"%lld\" data-symbol=\"", secs);
	ESC(symbol);
	LIT("\">\n<p class=\"merchant\">Payment to <strong id=\"merchant\">");
	ESC(str_of(inv, "merchant_id"));
	LIT("</strong> on ");
	ESC(str_of(inv, "chain"));
	LIT("</p>\n<h1>Pay <span id=\"amount\">");
	ESC(str_of(inv, "amount"));
	LIT("</span> ");
	ESC(symbol);
	LIT("</h1>\n<figure>");
	r = r ? r : put_qr_svg(&b, *uri ? uri : address);
	LIT("<figcaption>Scan with a wallet, or send exactly the amount to the address below.</figcaption></figure>\n"
	    "<label for=\"address\">Address</label><div class=\"copy\"><input id=\"address\" readonly value=\"");
	ESC(address);
	LIT("\"><button id=\"copy\" type=\"button\">Copy</button></div>\n");
	if (*uri) {
		LIT("<p><a id=\"uri\" href=\"");
		ESC(uri);
		LIT("\">Open in a wallet</a></p>\n");
	}
	LIT("<dl><dt>Status</dt><dd id=\"status\" data-status=\"");
	ESC(status);
	LIT("\" aria-live=\"polite\">");
	ESC(status_text(status));
	LIT("</dd><dt>Received</dt><dd><span id=\"paid\">");
	ESC(str_of(inv, "amount_paid"));
	LIT("</span> ");
	ESC(symbol);
	LIT("</dd><dt>Time left</dt><dd id=\"left\">%s</dd></dl>\n"
	    "<p id=\"copied\" class=\"note\" aria-live=\"polite\"></p>\n"
	    "</main><script src=\"/assets/checkout.js\"></script></body></html>\n",
	    left_text);
#undef ESC
#undef LIT
	char *out = r == 0 ? strdup(b.data) : NULL;
	buf_done(&b);
	return out;
}

/* The status JSON of checkout JSON: id, status, status_text, exception,
 * amount, amount_paid, amount_pending, symbol, seconds_left. */
static char *status_json(const cJSON *doc)
{
	const cJSON *inv = cJSON_GetObjectItemCaseSensitive(doc, "invoice");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(inv, "exception");
	const cJSON *left = cJSON_GetObjectItemCaseSensitive(doc, "seconds_left");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", str_of(inv, "id"));
	cJSON_AddStringToObject(o, "status", str_of(inv, "status"));
	cJSON_AddStringToObject(o, "status_text", status_text(str_of(inv, "status")));
	if (cJSON_IsString(ex))
		cJSON_AddStringToObject(o, "exception", ex->valuestring);
	else
		cJSON_AddNullToObject(o, "exception");
	cJSON_AddStringToObject(o, "amount", str_of(inv, "amount"));
	cJSON_AddStringToObject(o, "amount_paid", str_of(inv, "amount_paid"));
	cJSON_AddStringToObject(o, "amount_pending", str_of(inv, "amount_pending"));
	cJSON_AddStringToObject(o, "symbol", str_of(cJSON_GetObjectItemCaseSensitive(inv, "token"), "symbol"));
	cJSON_AddNumberToObject(o, "seconds_left", cJSON_IsNumber(left) ? left->valuedouble : 0);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static int run_checkout(PGconn *c, const void *arg, char **json, char *err, size_t errlen)
{
	return invoice_pg_checkout(c, arg, json, err, errlen);
}

enum MHD_Result api_checkout(api_server *s, struct MHD_Connection *conn, enum api_route_id rid,
			     const api_path_params *pp)
{
	static const struct {
		enum api_route_id rid;
		const char *body, *type;
	} assets[] = { { API_CHECKOUT_JS, checkout_js, "text/javascript; charset=utf-8" },
		       { API_CHECKOUT_CSS, checkout_css, "text/css; charset=utf-8" },
		       { API_CHECKOUT_ICON, checkout_svg, "image/svg+xml" } };
	for (size_t k = 0; k < sizeof(assets) / sizeof(assets[0]); k++)
		if (assets[k].rid == rid) {
			char *body = strdup(assets[k].body);
			return body ? send_page(conn, 200, body, assets[k].type) : MHD_NO;
		}
	const char *id = pp->v[0];
	bool page = rid == API_CHECKOUT_PAGE;
	if (!invoice_id_ok(id)) {
		if (!page)
			return api_send_error(conn, 404, "not_found", NULL, NULL, NULL, "no such invoice");
		return not_found_page(conn);
	}
	char err[512] = "";
	char *json = NULL;
	int r = api_pg_call(s->pg, run_checkout, id, &json, err, sizeof(err));
	if (r == PW_ENOTFOUND && page) {
		return not_found_page(conn);
	}
	if (r < 0)
		return api_answer_call(conn, r, NULL, false, err, "invoice");
	cJSON *doc = cJSON_Parse(json);
	free(json);
	char *out = doc ? (page ? page_html(doc) : status_json(doc)) : NULL;
	cJSON_Delete(doc);
	if (!out)
		return api_send_error(conn, 500, "internal", NULL, NULL, NULL, "out of memory");
	return page ? send_page(conn, 200, out, "text/html; charset=utf-8")
		    : send_page(conn, 200, out, "application/json");
}

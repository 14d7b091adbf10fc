// A local stand-in for Supabase Auth (GoTrue behind Supabase's gateway), for the browser
// tests of Supabase sign-in. It follows the documented endpoints and their shapes:
//
//   POST /auth/v1/otp?redirect_to=…        {email, create_user} → 200 {} and a "mail"
//   GET  /auth/v1/verify?token&type&redirect_to  → 303 to redirect_to#access_token=…
//                                            (or #error=access_denied&error_code=otp_expired…)
//   GET  /auth/v1/authorize?provider=github&redirect_to=…  → GitHub (here: consent at once)
//   GET  /auth/v1/callback?code&state      → 303 to redirect_to#access_token=…
//   POST /auth/v1/token?grant_type=refresh_token  {refresh_token} → a new session; refresh
//                                            tokens are single-use
//   POST /auth/v1/logout                   Bearer → 204, the session's refresh tokens revoked
//
// Errors carry GoTrue's body, {code, error_code, msg}; the gateway refuses a request without
// the anon key with 401 {message}. CORS is open, as on Supabase. Access tokens are HS256 JWTs
// with Supabase's claims, signed with `jwtSecret`. Test-only: `mailbox(email)` is the last
// magic link sent to that address, and `calls` counts requests (not CORS preflights) by
// endpoint.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function b64url(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export async function startFakeSupabase({ anonKey, jwtSecret, allowedRedirects, accessTtl = 3600, resendAfter = 60 }) {
  const users = new Map(); // email → {id, email, provider}
  const mails = new Map(); // email → last magic link
  const otps = new Map(); // token → {email, redirect, used}
  const codes = new Map(); // OAuth code → {email, redirect}
  const refreshTokens = new Map(); // token → {sessionId, email, provider, used, revoked}
  const sentAt = new Map(); // email → ms of the last mail
  const calls = {};
  let base = "";

  const userOf = (email, provider) => {
    if (!users.has(email)) users.set(email, { id: randomUUID(), email, provider });
    return users.get(email);
  };

  const session = (email, provider, sessionId = randomUUID()) => {
    const user = userOf(email, provider);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: `${base}/auth/v1`, sub: user.id, aud: "authenticated", exp: now + accessTtl, iat: now,
      email, phone: "", app_metadata: { provider, providers: [provider] }, user_metadata: {},
      role: "authenticated", aal: "aal1", amr: [{ method: provider === "email" ? "otp" : "oauth", timestamp: now }],
      session_id: sessionId, is_anonymous: false,
    };
    const unsigned = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
    const signature = createHmac("sha256", jwtSecret).update(unsigned).digest("base64url");
    const refresh = randomBytes(12).toString("base64url");
    refreshTokens.set(refresh, { sessionId, email, provider, used: false, revoked: false });
    return {
      access_token: `${unsigned}.${signature}`, token_type: "bearer", expires_in: accessTtl,
      expires_at: now + accessTtl, refresh_token: refresh,
      user: { id: user.id, aud: "authenticated", role: "authenticated", email, app_metadata: claims.app_metadata, user_metadata: {} },
    };
  };

  const fragment = (tokens, type) => new URLSearchParams({
    access_token: tokens.access_token, expires_at: String(tokens.expires_at), expires_in: String(tokens.expires_in),
    refresh_token: tokens.refresh_token, token_type: "bearer", type,
  }).toString();

  // GoTrue sends people to the site URL when redirect_to is not on the allow list.
  const redirectOf = (raw) => (allowedRedirects.includes(raw) ? raw : allowedRedirects[0]);

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, base);
    const path = url.pathname;
    if (req.method !== "OPTIONS") calls[path] = (calls[path] || 0) + 1;
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Headers", "apikey, authorization, content-type, x-client-info, x-supabase-api-version");
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    const json = (status, body, headers = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const gotrue = (status, errorCode, msg, headers) => json(status, { code: status, error_code: errorCode, msg }, headers);
    const redirect = (location) => { res.writeHead(303, { Location: location }); res.end(); };
    if (req.method === "OPTIONS") { res.writeHead(204); res.end(); return; }
    // Browser navigations (verify, authorize, callback) carry no key; API calls must.
    const navigation = req.method === "GET" && ["/auth/v1/verify", "/auth/v1/authorize", "/auth/v1/callback"].includes(path);
    if (!navigation) {
      const key = req.headers.apikey;
      if (!key) return json(401, { message: "No API key found in request", hint: "No `apikey` request header or url param was found." });
      if (key !== anonKey) return json(401, { message: "Invalid API key", hint: "Double check your Supabase `anon` or `service_role` API key." });
    }
    let body = {};
    if (req.method === "POST") {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      if (raw) {
        try { body = JSON.parse(raw); } catch { return gotrue(400, "bad_json", "Could not parse request body as JSON"); }
      }
    }

    if (req.method === "POST" && path === "/auth/v1/otp") {
      const email = String(body.email || "").trim().toLowerCase();
      if (!EMAIL.test(email)) return gotrue(400, "validation_failed", "Unable to validate email address: invalid format");
      if (body.create_user === false && !users.has(email)) return gotrue(422, "otp_disabled", "Signups not allowed for otp");
      const last = sentAt.get(email);
      if (last && Date.now() - last < resendAfter * 1000) {
        const wait = Math.ceil((resendAfter * 1000 - (Date.now() - last)) / 1000);
        return gotrue(429, "over_email_send_rate_limit", `For security purposes, you can only request this after ${wait} seconds.`);
      }
      sentAt.set(email, Date.now());
      const token = randomBytes(16).toString("hex");
      const back = redirectOf(url.searchParams.get("redirect_to") || "");
      otps.set(token, { email, redirect: back, used: false });
      mails.set(email, `${base}/auth/v1/verify?${new URLSearchParams({ token, type: "magiclink", redirect_to: back })}`);
      return json(200, {});
    }
    if (req.method === "GET" && path === "/auth/v1/verify") {
      const otp = otps.get(url.searchParams.get("token") || "");
      const back = otp?.redirect || redirectOf(url.searchParams.get("redirect_to") || "");
      if (!otp || otp.used) {
        return redirect(`${back}#${new URLSearchParams({ error: "access_denied", error_code: "otp_expired", error_description: "Email link is invalid or has expired" })}`);
      }
      otp.used = true;
      return redirect(`${back}#${fragment(session(otp.email, "email"), "magiclink")}`);
    }
    if (req.method === "GET" && path === "/auth/v1/authorize") {
      const provider = url.searchParams.get("provider");
      if (provider !== "github") return gotrue(400, "validation_failed", "Unsupported provider: provider is not enabled");
      // The real flow visits GitHub, which sends the browser to /callback; here GitHub agrees at once.
      const code = randomBytes(12).toString("hex");
      codes.set(code, { email: "octocat@example.com", redirect: redirectOf(url.searchParams.get("redirect_to") || "") });
      res.writeHead(302, { Location: `${base}/auth/v1/callback?code=${code}&state=${randomBytes(8).toString("hex")}` });
      res.end();
      return;
    }
    if (req.method === "GET" && path === "/auth/v1/callback") {
      const grant = codes.get(url.searchParams.get("code") || "");
      if (!grant) return redirect(`${allowedRedirects[0]}#error=invalid_request&error_code=bad_oauth_state&error_description=OAuth+state+is+invalid`);
      codes.delete(url.searchParams.get("code"));
      return redirect(`${grant.redirect}#${fragment(session(grant.email, "github"), "signup")}`);
    }
    if (req.method === "POST" && path === "/auth/v1/token") {
      const grant = url.searchParams.get("grant_type");
      if (grant !== "refresh_token") return gotrue(400, "validation_failed", "unsupported_grant_type");
      const held = refreshTokens.get(String(body.refresh_token || ""));
      if (!held || held.revoked) return gotrue(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      if (held.used) return gotrue(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
      held.used = true;
      return json(200, session(held.email, held.provider, held.sessionId));
    }
    if (req.method === "POST" && path === "/auth/v1/logout") {
      const bearer = (req.headers.authorization || "").replace(/^Bearer /, "");
      const [, payload] = bearer.split(".");
      let claims = null;
      try { claims = JSON.parse(Buffer.from(payload || "", "base64url").toString()); } catch { claims = null; }
      if (!claims?.session_id) return gotrue(401, "no_authorization", "This endpoint requires a Bearer token");
      for (const held of refreshTokens.values()) if (held.sessionId === claims.session_id) held.revoked = true;
      res.writeHead(204);
      res.end();
      return;
    }
    return gotrue(404, "not_found", "Not Found");
  });

  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: base,
    calls,
    mailbox: (email) => mails.get(email.toLowerCase()),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

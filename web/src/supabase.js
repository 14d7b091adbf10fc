// Sign-in through Supabase Auth, for when the api runs in Supabase mode: a magic link by
// e-mail, or GitHub. Only the documented Auth endpoints are used, with the project's anon
// key (public by design, from GET /api/v1/config):
//
//   POST {url}/auth/v1/otp?redirect_to=…                  send the magic link
//   GET  {url}/auth/v1/authorize?provider=github&redirect_to=…   start GitHub sign-in
//   POST {url}/auth/v1/token?grant_type=refresh_token       renew the access token
//   POST {url}/auth/v1/logout                               end the session
//
// Both ways come back to `redirect_to` with the session in the URL fragment (implicit
// flow): `#access_token=…&refresh_token=…&expires_in=…`, or `#error=…&error_description=…`.
// The fragment never reaches a server; it is read once and removed from the address bar.

const SESSION_KEY = "moclojer.supabase.session";
// Renew this long before the access token expires.
const EARLY_S = 60;

export class AuthError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

// The message of a Supabase Auth error body, whichever of its shapes it has:
// {code, error_code, msg} (current), {error, error_description} (OAuth), {message} (gateway).
function messageOf(status, body) {
  const text = body?.msg || body?.error_description || body?.message || body?.error;
  if (status === 429) return text ? `Too many requests: ${text}` : "Too many requests; wait a minute and try again.";
  return text || `Supabase answered ${status}`;
}

export class SupabaseAuth {
  constructor({ url, anon_key: anonKey }) {
    this.url = url.replace(/\/+$/, "");
    this.anonKey = anonKey;
    this.renewing = null;
  }

  // The stored session: {access_token, refresh_token, expires_at (unix s)}, or null.
  session() {
    try {
      const raw = localStorage.getItem(SESSION_KEY);
      const session = raw ? JSON.parse(raw) : null;
      return session?.access_token && session?.refresh_token ? session : null;
    } catch {
      return null;
    }
  }

  signedIn() {
    return this.session() !== null;
  }

  store(tokens) {
    const expiresIn = Number(tokens.expires_in) || 3600;
    const session = {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: Number(tokens.expires_at) || Math.floor(Date.now() / 1000) + expiresIn,
    };
    localStorage.setItem(SESSION_KEY, JSON.stringify(session));
    return session;
  }

  forget() {
    localStorage.removeItem(SESSION_KEY);
  }

  async request(method, path, body, accessToken) {
    const headers = { apikey: this.anonKey, Accept: "application/json" };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`${this.url}/auth/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new AuthError(`Supabase cannot be reached (${e.message})`, "network");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) throw new AuthError(messageOf(response.status, data), data?.error_code || data?.error || `http_${response.status}`);
    return data;
  }

  // Sends the magic link to `email`; the link signs in and comes back to `redirectTo`.
  async sendMagicLink(email, redirectTo) {
    await this.request("POST", `/otp?redirect_to=${encodeURIComponent(redirectTo)}`, {
      email: email.trim(),
      create_user: true,
    });
  }

  // Where the browser goes to sign in with `provider` (github).
  authorizeUrl(provider, redirectTo) {
    const query = new URLSearchParams({ provider, redirect_to: redirectTo });
    return `${this.url}/auth/v1/authorize?${query}`;
  }

  // Reads a session (or an error) that Supabase put in the URL fragment, and removes it from
  // the address bar. Returns {signedIn: true}, {error: message}, or null when there is none.
  takeFromUrl() {
    const hash = location.hash.startsWith("#") ? location.hash.slice(1) : "";
    if (!hash) return null;
    const params = new URLSearchParams(hash);
    const clear = () => history.replaceState(null, "", location.pathname + location.search);
    if (params.get("access_token") && params.get("refresh_token")) {
      this.store(Object.fromEntries(params));
      clear();
      return { signedIn: true };
    }
    if (params.get("error") || params.get("error_description")) {
      clear();
      return { error: params.get("error_description") || params.get("error") };
    }
    return null;
  }

  // A valid access token, renewed first when it expires within a minute; null when the
  // session is gone (never signed in, or Supabase refused to renew it).
  async accessToken({ renew = false } = {}) {
    const session = this.session();
    if (!session) return null;
    if (!renew && session.expires_at - EARLY_S > Date.now() / 1000) return session.access_token;
    // One renewal at a time: refresh tokens are single-use.
    this.renewing ??= this.renew(session).finally(() => { this.renewing = null; });
    return this.renewing;
  }

  async renew(session) {
    try {
      const tokens = await this.request("POST", "/token?grant_type=refresh_token", { refresh_token: session.refresh_token });
      return this.store(tokens).access_token;
    } catch (e) {
      if (e.code === "network") throw e;
      this.forget();
      return null;
    }
  }

  async signOut() {
    const session = this.session();
    this.forget();
    if (session) {
      try { await this.request("POST", "/logout", undefined, session.access_token); } catch { /* signed out here either way */ }
    }
  }
}

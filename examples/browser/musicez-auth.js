// A browser client for MusicEZ Auth in browser mode (API.md, "Browser mode").
//
// The refresh token lives in an HttpOnly cookie that this script can neither read nor leak:
// the server sets it on register/login/refresh and the browser sends it back to /auth/*.
// The access token is kept in memory only (never localStorage), sent as a bearer token, and
// renewed shortly before it expires. A page reload starts with no access token: `resume()`
// trades the cookie for a new one, so the user stays logged in.
//
// Copy this file as it is; it needs no build step and no dependencies.

export class AuthError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (problem && problem.code) || "network_error";
    this.problem = problem || null;
  }
}

export class MusicEZAuth {
  /**
   * @param {string} apiBase  e.g. "https://auth.example.com" (the service's origin, no trailing slash)
   * @param {{onChange?: (state: object) => void, refreshMargin?: number}} options
   *   onChange: called whenever the login state changes;
   *   refreshMargin: seconds before expiry to renew the access token (default 60, at most a fifth of its lifetime)
   */
  constructor(apiBase, options = {}) {
    this.api = apiBase.replace(/\/+$/, "");
    this.onChange = options.onChange || (() => {});
    this.refreshMargin = options.refreshMargin ?? 60;
    this.accessToken = null; // in memory only
    this.expiresAt = 0; // ms since the epoch
    this.user = null;
    this.sessionId = null;
    this.refreshes = 0;
    this._timer = null;
    this._refreshing = null;
  }

  get loggedIn() {
    return this.accessToken !== null;
  }

  register(email, password, deviceName) {
    return this._signIn("/auth/register", { email, password, device_name: deviceName || null });
  }

  login(email, password, deviceName) {
    return this._signIn("/auth/login", { email, password, device_name: deviceName || null });
  }

  /** After a page load: use the refresh cookie, if there is a live one, to log back in. */
  async resume() {
    const ok = await this.refresh();
    if (!ok) this.onChange(this.state());
    return ok;
  }

  /**
   * Trade the refresh cookie for a new access token (and a new cookie). One refresh at a time,
   * across tabs too where the browser has Web Locks: the second tab then uses the cookie the
   * first one just received. Returns false when there is no live session.
   */
  refresh() {
    if (!this._refreshing) {
      const run = () => this._refreshNow();
      const locked = navigator.locks ? navigator.locks.request("musicez-refresh", run) : run();
      this._refreshing = locked.finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  /** fetch() against the API with the access token; one refresh and retry on an expired token. */
  async fetch(path, init = {}) {
    const send = () =>
      fetch(this.api + path, {
        ...init,
        headers: { ...(init.headers || {}), ...(this.accessToken ? { Authorization: `Bearer ${this.accessToken}` } : {}) },
      });
    let response = await send();
    if (response.status === 401 && this.accessToken && (await this.refresh())) {
      response = await send();
    }
    return response;
  }

  async me() {
    const response = await this.fetch("/auth/me");
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new AuthError(response.status, body);
    return body;
  }

  /** End this session; the server clears the refresh cookie. */
  async logout() {
    try {
      if (this.accessToken) {
        await fetch(this.api + "/auth/logout", {
          method: "POST",
          credentials: "include", // so the server sees the cookie and clears it
          headers: { Authorization: `Bearer ${this.accessToken}` },
        });
      }
    } finally {
      this._forget();
    }
  }

  // -- internals ---------------------------------------------------------------------------

  _post(path, body) {
    return fetch(this.api + path, {
      method: "POST",
      credentials: "include", // store and send the refresh cookie (the API may be on another origin of this site)
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async _signIn(path, body) {
    const response = await this._post(path, { ...body, refresh_token_transport: "cookie" });
    const data = await response.json().catch(() => null);
    if (!response.ok || !data) throw new AuthError(response.status, data);
    this._accept(data);
    return data.user;
  }

  async _refreshNow() {
    let response;
    try {
      response = await this._post("/auth/refresh", {});
    } catch (error) {
      if (this.loggedIn) this._schedule(5); // offline for a moment: try again soon, keep the state
      return false;
    }
    const data = await response.json().catch(() => null);
    if (response.ok && data) {
      this.refreshes += 1;
      this._accept(data);
      return true;
    }
    if (response.status === 429 || response.status >= 500) {
      if (this.loggedIn) this._schedule(Number(response.headers.get("Retry-After")) || 5);
      return false;
    }
    this._forget(); // 400: no cookie; 401: the session ended; 403: this origin may not use it
    return false;
  }

  _accept(data) {
    this.accessToken = data.access_token;
    this.expiresAt = Date.now() + data.expires_in * 1000;
    this.user = data.user;
    this.sessionId = data.session_id;
    const margin = Math.min(this.refreshMargin, data.expires_in / 5);
    this._schedule(data.expires_in - margin);
    this.onChange(this.state());
  }

  _schedule(seconds) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.refresh(), Math.max(1, seconds) * 1000);
  }

  _forget() {
    clearTimeout(this._timer);
    this.accessToken = null;
    this.expiresAt = 0;
    this.user = null;
    this.sessionId = null;
    this.onChange(this.state());
  }

  state() {
    return {
      loggedIn: this.loggedIn,
      user: this.user,
      sessionId: this.sessionId,
      expiresAt: this.expiresAt,
      refreshes: this.refreshes,
    };
  }
}

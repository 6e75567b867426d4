// How the pages sign in when the API needs credentials (GET /api/v1/auth/config says so): with an
// API key pasted in, or with OIDC's authorization code flow and PKCE (S256) at the configured
// issuer. The credential lives in this tab's sessionStorage only, never in the address, and goes
// out as `Authorization: Bearer` on every API call (apiFetch); a 401 forgets it and asks again.
// No credential, code or verifier is ever written to the console.

const CONFIG_URL = "/api/v1/auth/config";
const CREDENTIAL = "taskoverflow.credential";
// the verifier, state and nonce of a sign-in at the issuer, kept while the browser is there
const PENDING = "taskoverflow.sign-in";
// 48 random bytes: a 64-character verifier (RFC 7636 asks for 43 to 128)
const VERIFIER_BYTES = 48;
const STATE_BYTES = 24;
const REFUSED = "Your sign-in was refused or has expired. Sign in again.";
const FAILED = "The sign-in did not complete. Try again.";

const $ = (selector) => document.querySelector(selector);

const dom = {
  content: $("main"),
  panel: $("#sign-in"),
  message: $("#sign-in-message"),
  oidcButton: $("#oidc-sign-in"),
  keyForm: $("#key-form"),
  keyField: $("#api-key"),
  signedIn: $("#signed-in"),
  signOut: $("#sign-out"),
};

let whenSignedIn = () => {};

// --- the one way the pages call the API -------------------------------------------------

export async function apiFetch(url, options = {}) {
  const headers = new Headers(options.headers);
  const credential = sessionStorage.getItem(CREDENTIAL);
  if (credential) {
    headers.set("Authorization", `Bearer ${credential}`);
  }
  const response = await fetch(url, { ...options, headers });
  // with AUTH_MODE=none the API never answers 401
  if (response.status === 401) {
    sessionStorage.removeItem(CREDENTIAL);
    showPanel(REFUSED);
  }
  return response;
}

// whether calls carry a credential: an EventSource cannot send one, so a signed-in page polls
export function hasCredential() {
  return Boolean(sessionStorage.getItem(CREDENTIAL));
}

// --- start ------------------------------------------------------------------------------

// `start` runs once the page may call the API: at once when no credentials are needed, else
// after each sign-in
export async function startSignedIn(start) {
  whenSignedIn = start;
  const config = await authConfig();
  if (config.mode !== "required") {
    start();
    return;
  }
  setUpPanel(config.oidc);
  const query = new URLSearchParams(location.search);
  const failure = query.has("code") || query.has("error") ? await finishOidc(config.oidc) : "";
  if (sessionStorage.getItem(CREDENTIAL)) {
    signedIn();
  } else {
    showPanel(failure);
  }
}

async function authConfig() {
  try {
    const response = await fetch(CONFIG_URL, { headers: { Accept: "application/json" } });
    if (response.ok) {
      return await response.json();
    }
  } catch {
    // as before sign-in existed: the API's own answers say what is wrong
  }
  return { mode: "none", oidc: null };
}

function setUpPanel(oidc) {
  dom.oidcButton.hidden = !oidc;
  if (oidc) {
    dom.oidcButton.addEventListener("click", () => beginOidc(oidc));
  }
  dom.keyForm.addEventListener("submit", useKey);
  // a clean start: nothing of the signed-in page stays behind
  dom.signOut.addEventListener("click", () => {
    sessionStorage.removeItem(CREDENTIAL);
    location.replace(pageAddress());
  });
}

function signedIn() {
  dom.panel.hidden = true;
  dom.content.hidden = false;
  dom.signedIn.hidden = false;
  whenSignedIn();
}

function showPanel(message) {
  const wasShown = !dom.panel.hidden;
  dom.content.hidden = true;
  dom.signedIn.hidden = true;
  dom.panel.hidden = false;
  dom.message.textContent = message;
  // every refused call of a page still polling comes here: focus moves once
  if (!wasShown) {
    dom.keyField.focus();
  }
}

function useKey(event) {
  event.preventDefault();
  const key = dom.keyField.value.trim();
  dom.keyField.value = "";
  if (!key) {
    showPanel("Paste an API key first.");
    return;
  }
  sessionStorage.setItem(CREDENTIAL, key);
  signedIn();
}

// --- OIDC: authorization code with PKCE ---------------------------------------------------

async function beginOidc(oidc) {
  const pending = {
    verifier: randomText(VERIFIER_BYTES),
    state: randomText(STATE_BYTES),
    nonce: randomText(STATE_BYTES),
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const address = new URL(oidc.authorization_endpoint);
  const asked = {
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: pageAddress(),
    scope: oidc.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: "S256",
  };
  for (const [name, value] of Object.entries(asked)) {
    address.searchParams.set(name, value);
  }
  location.assign(address.href);
}

// back from the issuer: trade the code for tokens; "" once signed in, else why not
async function finishOidc(oidc) {
  const query = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null");
  sessionStorage.removeItem(PENDING);
  // the code is used once, here: it leaves the address bar and the history at once
  history.replaceState(null, "", pageAddress());
  const code = query.get("code");
  if (!oidc || !pending || !code || query.get("state") !== pending.state) {
    return FAILED;
  }
  const tokens = await tradeCode(oidc, code, pending.verifier);
  if (typeof tokens?.id_token !== "string" || nonceOf(tokens.id_token) !== pending.nonce) {
    return FAILED;
  }
  // the ID token, not the access token: its aud is this client (OIDC Core 2), which the API
  // checks as OIDC_AUDIENCE, so OIDC_CLIENT_ID and OIDC_AUDIENCE name the same client; an access
  // token's audience is whatever the issuer makes it (Cognito's carries none)
  sessionStorage.setItem(CREDENTIAL, tokens.id_token);
  return "";
}

async function tradeCode(oidc, code, verifier) {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: pageAddress(),
    client_id: oidc.client_id,
    code_verifier: verifier,
  });
  try {
    // a form POST with no custom header: a simple cross-origin request, no preflight
    const response = await fetch(oidc.token_endpoint, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: form,
    });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

// the nonce the token carries; its signature and the rest are the API's to check
function nonceOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).nonce;
  } catch {
    return undefined;
  }
}

function pageAddress() {
  return `${location.origin}${location.pathname}`;
}

function randomText(bytes) {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function s256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64Url(new Uint8Array(digest));
}

function base64Url(bytes) {
  const binary = String.fromCharCode(...bytes);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

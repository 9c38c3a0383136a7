// Credentials inside service URLs (SPEC §7): they must work, and never reach a response, a log line
// or an error message. Node's fetch refuses a URL with credentials (and its error quotes the URL):
// HTTP clients get the bare URL and an Authorization header instead.

/** A URL split into its bare form and the credentials it carried (percent-decoded). */
export type SplitUrl = { url: string; username: string; password: string };

const decoded = (part: string) => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a stray '%': the URL parser kept it as it was written
  }
};

/** The URL without `user:password@`, and the credentials it had (empty strings when none). */
export function splitCredentials(url: string): SplitUrl {
  if (!URL.canParse(url)) return { url, username: '', password: '' };
  const parsed = new URL(url);
  const username = decoded(parsed.username);
  const password = decoded(parsed.password);
  if (!username && !password) return { url, username, password };
  parsed.username = '';
  parsed.password = '';
  // URL keeps a trailing slash the input did not have on a bare origin: keep the input's form.
  const bare = parsed.toString();
  return { url: url.endsWith('/') || parsed.pathname !== '/' ? bare : bare.replace(/\/$/, ''), username, password };
}

/** The `Authorization` header for a URL's credentials, or none. */
export function basicAuthHeader(url: string): Record<string, string> {
  const { username, password } = splitCredentials(url);
  if (!username && !password) return {};
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

/** `fetch` of a URL that may carry credentials: sent as basic auth, never as part of the URL. */
export function fetchWithCredentials(url: string, init: RequestInit = {}): Promise<Response> {
  const { url: bare } = splitCredentials(url);
  return fetch(bare, { ...init, headers: { ...basicAuthHeader(url), ...(init.headers as Record<string, string> | undefined) } });
}

/** Characters that end a URL's authority part (or the URL) inside a text. */
const authorityEnd = new Set(['/', '?', '#', ' ', '\t', '\r', '\n', '"', "'", '<', '>', '`', ')', ']', ',', ';']);

/**
 * Replaces the credentials of every `scheme://user:password@host` inside a text by `user:***`
 * (`***` without a user name). Linear in the text: each "://" is looked at once, and the scan of
 * an authority stops where the next one could start.
 */
export function redactUrlsIn(text: string): string {
  let out = '';
  let copied = 0;
  for (let at = text.indexOf('://'); at !== -1; at = text.indexOf('://', at + 3)) {
    const start = at + 3;
    if (start < copied) continue;
    let end = start;
    let atSign = -1;
    for (; end < text.length && !authorityEnd.has(text[end]!); end++) if (text[end] === '@') atSign = end;
    if (atSign < 0) continue;
    const userinfo = text.slice(start, atSign);
    const colon = userinfo.indexOf(':');
    out += text.slice(copied, start) + (colon > 0 ? `${userinfo.slice(0, colon)}:***` : '***');
    copied = atSign;
  }
  return out + text.slice(copied);
}

/** The URL as it may be shown: its password (or lone token) replaced by `***`. */
export const redactUrl = (url: string): string => redactUrlsIn(url);

/**
 * Removes from a text every URL credential and every known secret, in plain and percent-encoded
 * form (an error may quote a password out of its URL). Secrets shorter than 4 characters are left
 * to the URL redaction: replacing them everywhere would garble the text.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = redactUrlsIn(text);
  for (const secret of secrets) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      if (form.length >= 4) out = out.split(form).join('***');
    }
  }
  return out;
}

/** The passwords (and lone tokens) inside service URLs, for {@link redactSecrets}. */
export function secretsOf(urls: readonly string[]): string[] {
  return urls.flatMap((url) => {
    const { username, password } = splitCredentials(url);
    // `redis://token@host`: a lone user part is the secret.
    return password ? [password] : username && url.startsWith('redis') ? [username] : [];
  });
}

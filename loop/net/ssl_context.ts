/**
 * TLS settings: `SSLContext` and `createDefaultContext()`. Mirrors the parts
 * of Python's `ssl.SSLContext` that asyncio's `ssl=` arguments use, holding
 * what Deno's TLS APIs take instead of OpenSSL state: PEM strings for the
 * trusted CAs, the certificate chain and key, the ALPN protocols, and
 * whether the peer's name is checked.
 *
 * A server's certificate chain is always verified: against the default
 * roots, or, when `caCerts` are given, against exactly those (as Python's
 * `create_default_context(cadata=...)`); only the hostname check can be
 * switched off per connection. There is no `CERT_NONE`.
 *
 * @module
 */

/** Python's `ssl.Purpose` values: what the context authenticates. */
export type SSLPurpose = "serverAuth" | "clientAuth";

/** Options of `createDefaultContext()` and `new SSLContext()`. */
export interface SSLContextOptions {
  /**
   * `"serverAuth"` (default, Python's `Purpose.SERVER_AUTH`): a client's
   * context, which authenticates servers. `"clientAuth"`
   * (`Purpose.CLIENT_AUTH`): a server's context; it needs `cert` and `key`.
   */
  purpose?: SSLPurpose;
  /**
   * The trusted CA certificates, PEM (Python's `cadata`); when given, they
   * replace the default roots.
   */
  caCerts?: string[];
  /** The certificate chain, PEM: the server's (or a client certificate). */
  cert?: string;
  /** The private key of `cert`, PEM. */
  key?: string;
  /** ALPN protocols to offer, most preferred first. */
  alpnProtocols?: string[];
  /**
   * Check the server's name against its certificate (default true for a
   * client context). The chain is verified either way.
   */
  checkHostname?: boolean;
}

function checkPem(value: unknown, what: string): string | null {
  if (value == null) return null;
  if (typeof value !== "string") {
    throw new TypeError(`${what} must be a PEM string, got ${typeof value}`);
  }
  if (!value.includes("-----BEGIN ")) {
    throw new RangeError(
      `${what} is not PEM text (no "-----BEGIN " line); read the file's text and pass it`,
    );
  }
  return value;
}

function checkStrings(
  value: unknown,
  what: string,
  protocols = false,
): string[] | null {
  if (value == null) return null;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new TypeError(`${what} must be an array of strings`);
  }
  if (protocols && value.some((v) => v.length === 0 || v.length > 255)) {
    throw new RangeError(`${what}: each entry must be 1-255 characters long`);
  }
  return [...value];
}

/**
 * TLS settings for `ssl=` arguments. Mirrors `ssl.SSLContext`, holding the
 * settings Deno's TLS takes (PEM strings rather than files). Usually made
 * with `createDefaultContext()`.
 *
 * @example A client context offering HTTP/2
 * ```ts
 * import { SSLContext } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const ctx = new SSLContext(); // checks servers against the system's roots
 * ctx.setAlpnProtocols(["h2", "http/1.1"]);
 * assert.equal(ctx.purpose, "serverAuth");
 * assert.equal(ctx.checkHostname, true);
 * assert.deepEqual(ctx.alpnProtocols, ["h2", "http/1.1"]);
 * ```
 */
export class SSLContext {
  /** What the context authenticates (see `SSLContextOptions.purpose`). */
  readonly purpose: SSLPurpose;
  /** Extra trusted CA certificates (PEM). */
  caCerts: string[] = [];
  /** The certificate chain (PEM), or null. */
  cert: string | null = null;
  /** The key of `cert` (PEM), or null. */
  key: string | null = null;
  /** ALPN protocols, or null for no ALPN. */
  alpnProtocols: string[] | null = null;
  /** Whether a client checks the server's name. */
  checkHostname: boolean;

  /**
   * Creates a context.
   *
   * @param options The settings.
   * @throws {TypeError} for a setting of the wrong type.
   * @throws {RangeError} for an unknown purpose, non-PEM text, or a `cert`
   * without its `key` (or the reverse).
   * @example
   * ```ts
   * import { SSLContext } from "@aio/loop";
   * import assert from "node:assert/strict";
   * assert.equal(new SSLContext().purpose, "serverAuth");
   * ```
   */
  constructor(options: SSLContextOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("SSLContext options must be an object");
    }
    const purpose = options.purpose ?? "serverAuth";
    if (purpose !== "serverAuth" && purpose !== "clientAuth") {
      throw new RangeError(
        `purpose must be "serverAuth" (a client's context) or "clientAuth" (a server's), got ${
          String(purpose)
        }`,
      );
    }
    this.purpose = purpose;
    const caCerts = checkStrings(options.caCerts, "caCerts") ?? [];
    for (const ca of caCerts) checkPem(ca, "caCerts entry");
    this.caCerts = caCerts;
    if (options.cert != null || options.key != null) {
      this.loadCertChain(options.cert as string, options.key as string);
    }
    this.alpnProtocols = checkStrings(
      options.alpnProtocols,
      "alpnProtocols",
      true,
    );
    const check = options.checkHostname ?? purpose === "serverAuth";
    if (typeof check !== "boolean") {
      throw new TypeError("checkHostname must be a boolean");
    }
    this.checkHostname = check;
  }

  /**
   * Sets the certificate chain and its private key. Mirrors
   * `load_cert_chain()`, with PEM text instead of file names.
   *
   * @param cert The certificate chain, PEM.
   * @param key Its private key, PEM.
   * @throws {RangeError} when either is missing or not PEM.
   * @example PEM text (here a test-only self-signed pair), not file names
   * ```ts
   * import { SSLContext } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const cert = `-----BEGIN CERTIFICATE-----
   * MIIBMTCB16ADAgECAgEBMAoGCCqGSM49BAMCMBQxEjAQBgNVBAMMCWxvY2FsaG9z
   * dDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDESMBAGA1UEAwwJ
   * bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYi6q6cnzNTymTN6O
   * oYMW5P/LtwT0zKQlHhkm0ughni3tvil1pWB7mEpu9piF65EC9wkr3gdauMJIpyGQ
   * Efa8o6MYMBYwFAYDVR0RBA0wC4IJbG9jYWxob3N0MAoGCCqGSM49BAMCA0kAMEYC
   * IQCbBZ50lHfFj6CjM3WxtYm4pLsGi9hbNEdRcjpfuu1gWgIhAO25KiDoa5mmhMQG
   * F+i+RB9Hy7JLhUMytKWzlgzhqH9t
   * -----END CERTIFICATE-----`;
   * const key = `-----BEGIN PRIVATE KEY-----
   * MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAdcnCt4igVAejm5P
   * gpWRmM/Mb1vxifHKMRBbDhxmLtmhRANCAARiLqrpyfM1PKZM3o6hgxbk/8u3BPTM
   * pCUeGSbS6CGeLe2+KXWlYHuYSm72mIXrkQL3CSveB1q4wkinIZAR9ryj
   * -----END PRIVATE KEY-----`;
   * const ctx = new SSLContext({ purpose: "clientAuth" });
   * assert.throws(() => ctx.loadCertChain("cert.pem", "key.pem"), RangeError);
   * ctx.loadCertChain(cert, key);
   * assert.equal(ctx.cert, cert);
   * assert.equal(ctx.key, key);
   * ```
   */
  loadCertChain(cert: string, key: string): void {
    const c = checkPem(cert, "cert");
    const k = checkPem(key, "key");
    if (c === null || k === null) {
      throw new RangeError("cert and key must be given together");
    }
    this.cert = c;
    this.key = k;
  }

  /**
   * Trusts more CA certificates. Mirrors `load_verify_locations(cadata=)`.
   *
   * @param cadata One or more PEM certificates.
   * @example Trusting a test-only self-signed certificate
   * ```ts
   * import { SSLContext } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const selfSigned = `-----BEGIN CERTIFICATE-----
   * MIIBMTCB16ADAgECAgEBMAoGCCqGSM49BAMCMBQxEjAQBgNVBAMMCWxvY2FsaG9z
   * dDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDESMBAGA1UEAwwJ
   * bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYi6q6cnzNTymTN6O
   * oYMW5P/LtwT0zKQlHhkm0ughni3tvil1pWB7mEpu9piF65EC9wkr3gdauMJIpyGQ
   * Efa8o6MYMBYwFAYDVR0RBA0wC4IJbG9jYWxob3N0MAoGCCqGSM49BAMCA0kAMEYC
   * IQCbBZ50lHfFj6CjM3WxtYm4pLsGi9hbNEdRcjpfuu1gWgIhAO25KiDoa5mmhMQG
   * F+i+RB9Hy7JLhUMytKWzlgzhqH9t
   * -----END CERTIFICATE-----`;
   * const ctx = new SSLContext();
   * ctx.loadVerifyLocations(selfSigned);
   * assert.deepEqual(ctx.caCerts, [selfSigned]);
   * ```
   */
  loadVerifyLocations(cadata: string): void {
    this.caCerts.push(checkPem(cadata, "cadata") as string);
  }

  /**
   * Sets the ALPN protocols to offer. Mirrors `set_alpn_protocols()`.
   *
   * @param protocols Most preferred first.
   * @example
   * ```ts
   * import { SSLContext } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const ctx = new SSLContext();
   * ctx.setAlpnProtocols(["http/1.1"]);
   * assert.equal(ctx.alpnProtocols?.[0], "http/1.1");
   * ```
   */
  setAlpnProtocols(protocols: string[]): void {
    this.alpnProtocols = checkStrings(protocols, "protocols", true);
  }

  /** A description like `<SSLContext serverAuth checkHostname>`. */
  toString(): string {
    return `<SSLContext ${this.purpose}${
      this.checkHostname ? " checkHostname" : ""
    }${this.cert !== null ? " cert" : ""}>`;
  }
}

/**
 * A context with the default settings for `purpose`. Mirrors
 * `ssl.create_default_context()`: a client context (the default) verifies
 * the server's chain and name; a server context (`purpose: "clientAuth"`)
 * needs `cert` and `key`.
 *
 * @param options The settings.
 * @returns A new `SSLContext`.
 * @throws {RangeError} for a server context without `cert` and `key`.
 * @example A client context; a server context needs its certificate
 * ```ts
 * import { createDefaultContext } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const client = createDefaultContext({ alpnProtocols: ["h2"] });
 * assert.equal(client.checkHostname, true);
 * assert.throws(() => createDefaultContext({ purpose: "clientAuth" }), RangeError);
 * ```
 */
export function createDefaultContext(
  options: SSLContextOptions = {},
): SSLContext {
  const ctx = new SSLContext(options);
  if (ctx.purpose === "clientAuth" && ctx.cert === null) {
    throw new RangeError(
      'createDefaultContext(): a server context (purpose "clientAuth") needs cert and key',
    );
  }
  return ctx;
}

/**
 * The TLS fixtures the tests share (tests/fixtures/tls/README.md): their
 * PEM text, and contexts for the test server and its clients.
 */
import { createDefaultContext, type SSLContext } from "../../mod.ts";

const FIXTURES = new URL("../fixtures/tls/", import.meta.url);

/** The text of a fixture file, e.g. `pem("ca.pem")`. */
export const pem = (name: string): string =>
  Deno.readTextFileSync(new URL(name, FIXTURES));

/** The test CA's certificate, which signed every fixture but the self-signed one. */
export const CA: string = pem("ca.pem");

/**
 * A server context with the fixture certificate `name` (`server`, for
 * `localhost` and 127.0.0.1; `expired`, `wronghost`, `selfsigned`).
 */
export function serverContext(
  name = "server",
  alpnProtocols?: string[],
): SSLContext {
  return createDefaultContext({
    purpose: "clientAuth",
    cert: pem(`${name}.pem`),
    key: pem(`${name}.key`),
    alpnProtocols,
  });
}

/** A client context that trusts the test CA. */
export function clientContext(alpnProtocols?: string[]): SSLContext {
  return createDefaultContext({ caCerts: [CA], alpnProtocols });
}

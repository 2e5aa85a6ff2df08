/** Free TCP ports for the servers the local stack and the tests start. */
import net from 'node:net';

/** A TCP port that is free on `host` right now (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error(`could not read the port bound on ${host}`));
      });
    });
  });
}

/** Linux's default ephemeral range is 32768-60999: a service port below it is never lent out. */
const SERVICE_PORTS = { low: 20_000, high: 32_000 };

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port for a server that is stopped and started again on the same port (the local Airflow
 * components). Ports from freePort are ephemeral ones: while the server is down, any outgoing
 * connection on this busy machine may be given it as its source port, and the restart then fails
 * with "address already in use". This picks from below the ephemeral range instead.
 */
export async function freeServicePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = SERVICE_PORTS.low + Math.floor(Math.random() * (SERVICE_PORTS.high - SERVICE_PORTS.low));
    if (await canListen(port)) return port;
  }
  return freePort();
}

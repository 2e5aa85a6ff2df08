/**
 * local/moto.ts's start on a port someone else took between the pick and moto's bind: the race
 * CI hit on a busy machine ("Address already in use"). A port the caller asked for is not replaced.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { startMoto } from '../local/moto.js';
import { freeServicePort } from '../local/ports.js';

/** A listener on a loopback port, standing for the process that took it first. */
function holdPort(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // It answers nobody: a connection (moto's readiness probe) is closed at once.
    const srv = net.createServer((socket) => socket.destroy());
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

void describe('moto on a port taken after it was picked', () => {
  let held: net.Server;
  let heldPort: number;

  before(async () => {
    held = await holdPort();
    heldPort = (held.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => held.close(() => resolve())));

  void it('picks another port and starts there', async () => {
    const picks: number[] = [];
    const moto = await startMoto({
      bucket: 'port-race',
      pickPort: async () => {
        const port = picks.length === 0 ? heldPort : await freeServicePort();
        picks.push(port);
        return port;
      },
    });
    try {
      assert.equal(picks.length, 2, `ports picked: ${picks.join(', ')}`);
      assert.equal(moto.endpoint, `http://127.0.0.1:${picks[1]}`);
      const { Buckets } = await moto.s3.send(new ListBucketsCommand({}));
      assert.deepEqual(
        Buckets?.map((b) => b.Name),
        ['port-race'],
      );
    } finally {
      await moto.stop();
    }
  });

  void it('gives up after three taken picks, saying the port was in use', async () => {
    let picks = 0;
    await assert.rejects(
      startMoto({
        pickPort: async () => {
          picks++;
          return heldPort;
        },
      }),
      /Address already in use/,
    );
    assert.equal(picks, 3);
  });

  void it('a port the caller chose is not swapped for another', async () => {
    await assert.rejects(startMoto({ port: heldPort }), /Address already in use/);
  });
});

/**
 * The OPC UA sink (src-main/services/line/sinks/opcua.ts) with a real node-opcua client over
 * TCP on a free loopback port: the documented NodeIds hold the last result of each station,
 * ResultCount counts them, the Kensa tree browses as documented, a client write is refused,
 * the loopback endpoints (None + Basic256Sha256 Sign&Encrypt), the server certificate in the
 * project's pki folder, and a port in use: start() does not throw, deliver does, and the
 * server comes up once the port is free.
 */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { AttributeIds, DataType, MessageSecurityMode, OPCUAClient, SecurityPolicy, StatusCodes, type ClientSession } from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpcuaSink, opcuaNodeId } from '../../../../src-main/services/line/sinks/index';
import { lineResult, freePort, tempDir, waitFor } from './fixtures';

let dir: string;
let cleanup: () => void;
let sink: OpcuaSink;
let client: OPCUAClient;
let session: ClientSession;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('kensa-opcua-'));
  const port = await freePort();
  sink = new OpcuaSink({ projectDir: dir, station: 'st-1', settings: { enabled: true, host: '127.0.0.1', port } });
  await sink.start();
  expect(sink.status()).toMatchObject({ name: 'opcua', ready: true, lastError: null, target: `opc.tcp://127.0.0.1:${port}` });
  client = OPCUAClient.create({
    applicationName: 'kensa-test-plc',
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'client-pki'), automaticallyAcceptUnknownCertificate: true }),
  });
  await client.connect(sink.endpointUrl);
  session = await client.createSession();
}, 60_000);

afterAll(async () => {
  await session?.close().catch(() => undefined);
  await client?.disconnect().catch(() => undefined);
  await sink?.close();
  cleanup?.();
}, 30_000);

async function readValues(station: string, names: string[]) {
  const dvs = await session.read(names.map((n) => ({ nodeId: opcuaNodeId(station, n), attributeId: AttributeIds.Value })));
  return Object.fromEntries(names.map((n, i) => [n, dvs[i]!]));
}

const FIELDS = ['PartId', 'File', 'Score', 'Disposition', 'Verdict', 'ModelVersion', 'Detector', 'Threshold', 'ReviewUpper', 'ResultTime', 'Sequence', 'Event'].map(
  (n) => `LastResult.${n}`,
);

describe('opcua sink', () => {
  it("the station's nodes exist from start and wait for their first result", async () => {
    const v = await readValues('st-1', ['LastResult.Score', 'ResultCount']);
    expect(v['LastResult.Score']!.statusCode.equals(StatusCodes.BadWaitingForInitialData)).toBe(true);
    expect(v['ResultCount']!.value.value).toBe(0);
  });

  it('the documented NodeIds hold the last result of each station', async () => {
    await sink.deliver(lineResult({ seq: 1, station: 'st-1', partId: 10, score: 0.2, disposition: 'pass' }));
    await sink.deliver(
      lineResult({
        seq: 2,
        station: 'st-1',
        partId: 11,
        file: 'cam-1 part 11.png',
        score: 0.75,
        disposition: 'reject',
        verdict: 'defect',
        event: 'verdict',
        modelVersion: 4,
        detector: 'patchcore',
        threshold: null,
        reviewUpper: 0.7,
        at: '2026-11-30T12:34:56.789Z',
      }),
    );
    await sink.deliver(lineResult({ seq: 3, station: 'Line B/2', partId: 99, score: 0.1, disposition: 'pass', threshold: 0.4 }));

    const a = await readValues('st-1', [...FIELDS, 'ResultCount']);
    for (const [name, dv] of Object.entries(a)) expect(dv.statusCode.isGood(), `${name}: ${dv.statusCode.toString()}`).toBe(true);
    const val = (n: string) => a[`LastResult.${n}`]!.value;
    expect(val('PartId')).toMatchObject({ dataType: DataType.UInt32, value: 11 });
    expect(val('File')).toMatchObject({ dataType: DataType.String, value: 'cam-1 part 11.png' });
    expect(val('Score')).toMatchObject({ dataType: DataType.Double, value: 0.75 });
    expect(val('Disposition').value).toBe('reject');
    expect(val('Verdict').value).toBe('defect');
    expect(val('ModelVersion')).toMatchObject({ dataType: DataType.UInt32, value: 4 });
    expect(val('Detector').value).toBe('patchcore');
    expect(val('Threshold').dataType).toBe(DataType.Double);
    expect(Number.isNaN(val('Threshold').value)).toBe(true);
    expect(val('ReviewUpper').value).toBe(0.7);
    expect(val('ResultTime').dataType).toBe(DataType.DateTime);
    expect((val('ResultTime').value as Date).toISOString()).toBe('2026-11-30T12:34:56.789Z');
    expect(val('Sequence')).toMatchObject({ dataType: DataType.UInt64, value: [0, 2] });
    expect(val('Event').value).toBe('verdict');
    expect(a['ResultCount']!.value).toMatchObject({ dataType: DataType.UInt32, value: 2 });
    // All variables of one result carry one source timestamp.
    const stamps = new Set(FIELDS.map((f) => a[f]!.sourceTimestamp?.getTime()));
    expect(stamps.size).toBe(1);

    // The other station (name sanitised for the NodeId: 'Line B/2' → 'Line_B_2').
    expect(opcuaNodeId('Line B/2', 'LastResult.PartId')).toBe('ns=1;s=Kensa.Stations.Line_B_2.LastResult.PartId');
    const b = await readValues('Line B/2', ['LastResult.PartId', 'LastResult.Verdict', 'LastResult.Threshold', 'ResultCount']);
    expect(b['LastResult.PartId']!.value.value).toBe(99);
    expect(b['LastResult.Verdict']!.value.value).toBe('');
    expect(b['LastResult.Threshold']!.value.value).toBe(0.4);
    expect(b['ResultCount']!.value.value).toBe(1);
  });

  it('browses Kensa → Stations → <station> → LastResult, in namespace urn:kensa:line', async () => {
    const nsArray = await session.read({ nodeId: 'i=2255', attributeId: AttributeIds.Value });
    expect((nsArray.value.value as string[])[1]).toBe('urn:kensa:line');
    const names = async (nodeId: string) => (await session.browse(nodeId)).references!.map((r) => r.browseName.toString());
    expect(await names('i=85')).toContain('1:Kensa');
    expect(await names('ns=1;s=Kensa')).toContain('1:Stations');
    expect(await names('ns=1;s=Kensa.Stations')).toEqual(expect.arrayContaining(['1:st-1', '1:Line_B_2']));
    expect(await names('ns=1;s=Kensa.Stations.st-1')).toEqual(expect.arrayContaining(['1:LastResult', '1:ResultCount']));
    expect(await names('ns=1;s=Kensa.Stations.st-1.LastResult')).toEqual(expect.arrayContaining(FIELDS.map((f) => `1:${f.slice('LastResult.'.length)}`)));
  });

  it('refuses a client write: the variables are read-only', async () => {
    const nodeId = opcuaNodeId('st-1', 'LastResult.Score');
    const access = await session.read([
      { nodeId, attributeId: AttributeIds.AccessLevel },
      { nodeId, attributeId: AttributeIds.UserAccessLevel },
    ]);
    expect(access.map((dv) => dv.value.value)).toEqual([1, 1]); // CurrentRead only
    const status = await session.write({ nodeId, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value: 0 } } });
    expect(status.isGood()).toBe(false);
    expect([StatusCodes.BadNotWritable.value, StatusCodes.BadUserAccessDenied.value]).toContain(status.value);
    const count = await session.write({ nodeId: opcuaNodeId('st-1', 'ResultCount'), attributeId: AttributeIds.Value, value: { value: { dataType: DataType.UInt32, value: 0 } } });
    expect(count.isGood()).toBe(false);
    expect((await readValues('st-1', ['LastResult.Score']))['LastResult.Score']!.value.value).toBe(0.75);
  });

  it('on loopback it offers None and Basic256Sha256 Sign&Encrypt, with its certificate under <project>/line/pki', async () => {
    const endpoints = await client.getEndpoints();
    const offered = endpoints.map((e) => `${(e.securityPolicyUri ?? '').split('#')[1]}/${MessageSecurityMode[e.securityMode]}`).sort();
    expect(offered).toEqual(['Basic256Sha256/SignAndEncrypt', 'None/None']);
    expect(existsSync(path.join(dir, 'line', 'pki', 'own', 'certs'))).toBe(true);
  });

  it('a Sign&Encrypt client is refused until its certificate is moved from pki/rejected to pki/trusted/certs', async () => {
    const secure = () =>
      OPCUAClient.create({
        applicationName: 'kensa-test-secure',
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0 },
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy.Basic256Sha256,
        clientCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'secure-client-pki'), automaticallyAcceptUnknownCertificate: true }),
      });
    /** Connects, reads ResultCount of st-1 over the secured session, disconnects: the value, or the error text. */
    const attempt = async (): Promise<number | string> => {
      const c = secure();
      try {
        await c.connect(sink.endpointUrl);
        const s = await c.createSession();
        const dv = await s.read({ nodeId: opcuaNodeId('st-1', 'ResultCount'), attributeId: AttributeIds.Value });
        await s.close();
        return dv.value.value as number;
      } catch (e) {
        return String(e);
      } finally {
        await c.disconnect().catch(() => undefined);
      }
    };
    expect(await attempt()).toMatch(/rejected|BadSecurityChecksFailed|BadCertificate/i);
    const pki = path.join(dir, 'line', 'pki');
    const rejected = readdirSync(path.join(pki, 'rejected')).filter((f) => f.endsWith('.pem') || f.endsWith('.der'));
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    for (const f of rejected) renameSync(path.join(pki, 'rejected', f), path.join(pki, 'trusted', 'certs', f));
    // The server's trust list notices the move within a moment.
    const got = await waitFor(async () => {
      const r = await attempt();
      return typeof r === 'number' ? { r } : null;
    }, 'the trusted Sign&Encrypt client to read', 30_000, 300);
    expect(got.r).toBe(2);
  }, 60_000);
});

describe('opcua sink, port in use', () => {
  it('start() does not throw, deliver does, and the server comes up once the port is free', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const blocked = new OpcuaSink({ projectDir: dir, settings: { enabled: true, host: '127.0.0.1', port }, retryMs: 300 });
    try {
      await blocked.start();
      expect(blocked.status()).toMatchObject({ ready: false, lastError: expect.stringContaining(`127.0.0.1:${port}`) });
      await expect(blocked.deliver(lineResult({ seq: 1 }))).rejects.toMatchObject({ code: 'LINE_OUTPUT', message: expect.stringContaining(`${port}`) });
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      await waitFor(() => blocked.status().ready, 'the OPC UA server to listen after the port was freed', 30_000, 100);
      await blocked.deliver(lineResult({ seq: 1 }));
      expect(blocked.status()).toMatchObject({ ready: true, lastError: null });
    } finally {
      blocker.close();
      await blocked.close();
    }
  }, 60_000);
});

const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe.skipIf(!lanAddress)('opcua sink on a non-loopback address', () => {
  it('offers only Basic256Sha256 Sign&Encrypt: an unsecured session is refused', async () => {
    const port = await freePort();
    const lan = new OpcuaSink({ projectDir: dir, settings: { enabled: true, host: lanAddress!, port } });
    const probe = OPCUAClient.create({
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'client-pki'), automaticallyAcceptUnknownCertificate: true }),
    });
    try {
      await lan.start();
      expect(lan.status()).toMatchObject({ ready: true, target: `opc.tcp://${lanAddress}:${port}` });
      await probe.connect(lan.endpointUrl);
      const endpoints = await probe.getEndpoints();
      expect(endpoints.map((e) => `${(e.securityPolicyUri ?? '').split('#')[1]}/${MessageSecurityMode[e.securityMode]}`)).toEqual(['Basic256Sha256/SignAndEncrypt']);
      await expect(probe.createSession()).rejects.toThrow();
    } finally {
      await probe.disconnect().catch(() => undefined);
      await lan.close();
    }
  }, 60_000);
});

/**
 * OPC UA: a small OPC UA server (node-opcua) that exposes the last result of each station,
 * for PLCs and SCADA that poll or subscribe, in the spirit of OPC UA for Machine Vision
 * (OPC 40100: a system object, per-station objects, a result with its id, time and state).
 *
 * Address space (namespace index 1, URI `urn:kensa:line`, which is also the server's
 * ApplicationUri), with stable string NodeIds a PLC can be configured with. <station> is the
 * station name with every character other than letters, digits, `_` and `-` replaced by `_`:
 *
 *   ns=1;s=Kensa                                         Object   (under Objects)
 *   ns=1;s=Kensa.Stations                                Folder
 *   ns=1;s=Kensa.Stations.<station>                      Object
 *   ns=1;s=Kensa.Stations.<station>.ResultCount          UInt32   results since the server started
 *   ns=1;s=Kensa.Stations.<station>.LastResult           Object
 *   ns=1;s=Kensa.Stations.<station>.LastResult.PartId        UInt32    images.id in the project
 *   ns=1;s=Kensa.Stations.<station>.LastResult.File          String    the file name it arrived under
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Score         Double    raw image score
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Disposition   String    pass | review | reject
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Verdict       String    good | defect | '' (none yet)
 *   ns=1;s=Kensa.Stations.<station>.LastResult.ModelVersion  UInt32
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Detector      String
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Threshold     Double    NaN when there is none
 *   ns=1;s=Kensa.Stations.<station>.LastResult.ReviewUpper   Double    NaN when there is none
 *   ns=1;s=Kensa.Stations.<station>.LastResult.ResultTime    DateTime  when the event happened (LineResult.at)
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Sequence      UInt64    outbox seq: changes with every result
 *   ns=1;s=Kensa.Stations.<station>.LastResult.Event         String    scored | verdict
 *
 * A station's nodes exist from start() for this workstation's station, and appear for any
 * other station on its first result. Until a station's first result its LastResult variables
 * read with status BadWaitingForInitialData and ResultCount reads 0.
 *
 * Guarantees: deliver writes all the variables of one result in one synchronous step, with one
 * source timestamp, and then increments ResultCount: a client never reads (or is notified of) a
 * mix of two results. It resolves once the variables hold the result. There is no history: a
 * client sees the latest result; Sequence or ResultCount tell it that a new one arrived.
 *
 * Security: every variable is read-only (AccessLevel and UserAccessLevel CurrentRead); no
 * client can write anywhere in the Kensa tree, and the server offers no node management.
 * Anonymous sessions can read. Bound to a loopback address (127.0.0.0/8, ::1, localhost), the
 * server also offers SecurityPolicy None; bound to anything else it offers only
 * Basic256Sha256 with Sign&Encrypt, and a client's certificate must be trusted first: a
 * rejected one lands in <pki>/rejected/ and is trusted by moving it to <pki>/trusted/certs/.
 * The server's self-signed certificate is made on first start in <project>/line/pki (own/).
 *
 * Failure: start() never throws. When the server cannot listen (port in use, address not on
 * this machine) status() says why and start is retried every few seconds; meanwhile deliver
 * throws LINE_OUTPUT, so the publisher offers the results again once the server is up.
 */
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { OPCUAServer } from 'node-opcua-server';
import { KensaError } from '../../../shared/errors';
import type { LineOutputSettings, LineResult, ResultSink, SinkStatus } from '../types';
import { errorText, outputError, serialiser } from './common';

export interface OpcuaSinkOptions {
  projectDir: string;
  /** This workstation's station: its nodes exist from start(). */
  station?: string;
  settings: LineOutputSettings['opcua'];
  /** Where the server's certificate, key and trust lists live. Default <project>/line/pki. */
  pkiDir?: string;
  /** Pause before trying to listen again after a failed start. Default 5000 ms. */
  retryMs?: number;
}

/** The namespace URI of the Kensa nodes (namespace index 1). */
export const OPCUA_NAMESPACE_URI = 'urn:kensa:line';

/**
 * node-opcua takes over a second to load: it is loaded on the first start(), so that the app
 * (and every other sink) starts without it when OPC UA is off.
 */
async function loadOpcua() {
  const [server, certificates, channel, status, variant] = await Promise.all([
    import('node-opcua-server'),
    import('node-opcua-certificate-manager'),
    import('node-opcua-secure-channel'),
    import('node-opcua-status-code'),
    import('node-opcua-variant'),
  ]);
  return {
    OPCUAServer: server.OPCUAServer,
    RegisterServerMethod: server.RegisterServerMethod,
    OPCUACertificateManager: certificates.OPCUACertificateManager,
    SecurityPolicy: channel.SecurityPolicy,
    MessageSecurityMode: channel.MessageSecurityMode,
    StatusCodes: status.StatusCodes,
    DataType: variant.DataType,
    VariantArrayType: variant.VariantArrayType,
  };
}
type OpcuaLib = Awaited<ReturnType<typeof loadOpcua>>;
let opcuaLib: Promise<OpcuaLib> | null = null;

type AddressSpace = NonNullable<OPCUAServer['engine']['addressSpace']>;
type Namespace = ReturnType<AddressSpace['getOwnNamespace']>;
type UAVariable = ReturnType<Namespace['addVariable']>;
type UAObject = ReturnType<Namespace['addObject']>;

/** A station name as it appears in BrowseNames and NodeIds. */
export function opcuaStationKey(station: string): string {
  const s = station.replace(/[^\p{L}\p{N}_-]/gu, '_');
  return s === '' ? '_' : s;
}

/** The NodeId (as a string, namespace index 1) of a LastResult variable or other node of a station. */
export function opcuaNodeId(station: string, path: string): string {
  return `ns=1;s=Kensa.Stations.${opcuaStationKey(station)}.${path}`;
}

const UINT32_MAX = 0xffffffff;
const u32 = (n: number): number => (Number.isInteger(n) && n >= 0 && n <= UINT32_MAX ? n : 0);
/** node-opcua's UInt64: [high 32 bits, low 32 bits]. */
const u64 = (n: number): [number, number] => {
  const v = Number.isSafeInteger(n) && n >= 0 ? n : 0;
  return [Math.floor(v / 2 ** 32), v % 2 ** 32];
};

type TypeName = 'UInt32' | 'UInt64' | 'String' | 'Double' | 'DateTime';

interface VariableSpec {
  name: string;
  dataType: TypeName;
  value: (r: LineResult) => unknown;
}

const LAST_RESULT: VariableSpec[] = [
  { name: 'PartId', dataType: 'UInt32', value: (r) => u32(r.partId) },
  { name: 'File', dataType: 'String', value: (r) => r.file },
  { name: 'Score', dataType: 'Double', value: (r) => r.score },
  { name: 'Disposition', dataType: 'String', value: (r) => r.disposition },
  { name: 'Verdict', dataType: 'String', value: (r) => r.verdict ?? '' },
  { name: 'ModelVersion', dataType: 'UInt32', value: (r) => u32(r.modelVersion) },
  { name: 'Detector', dataType: 'String', value: (r) => r.detector },
  { name: 'Threshold', dataType: 'Double', value: (r) => r.threshold ?? Number.NaN },
  { name: 'ReviewUpper', dataType: 'Double', value: (r) => r.reviewUpper ?? Number.NaN },
  { name: 'ResultTime', dataType: 'DateTime', value: (r) => new Date(r.at) },
  { name: 'Sequence', dataType: 'UInt64', value: (r) => u64(r.seq) },
  { name: 'Event', dataType: 'String', value: (r) => r.event },
];

/** A placeholder of the right type, shown with BadWaitingForInitialData until the first result. */
function initialValue(dataType: TypeName): unknown {
  switch (dataType) {
    case 'String':
      return '';
    case 'Double':
      return Number.NaN;
    case 'DateTime':
      return new Date(0);
    case 'UInt64':
      return [0, 0];
    default:
      return 0;
  }
}

interface StationNodes {
  count: UAVariable;
  results: number;
  vars: Map<string, UAVariable>;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export class OpcuaSink implements ResultSink {
  readonly name = 'opcua' as const;
  readonly host: string;
  readonly port: number;
  readonly pkiDir: string;
  private readonly station: string | undefined;
  private readonly retryMs: number;
  private readonly serial = serialiser();
  private server: OPCUAServer | null = null;
  private lib: OpcuaLib | null = null;
  private namespace: Namespace | null = null;
  private stationsFolder: UAObject | null = null;
  private readonly stations = new Map<string, StationNodes>();
  private listening = false;
  private wanted = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private startError: string | null = null;
  private deliverError: string | null = null;

  constructor(options: OpcuaSinkOptions) {
    const { settings } = options;
    const host = settings.host?.trim() || '127.0.0.1';
    if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) {
      throw new KensaError('INVALID_ARGUMENT', `OPC UA: port ${settings.port} is not a TCP port (1-65535)`);
    }
    this.host = host;
    this.port = settings.port;
    this.station = options.station;
    this.pkiDir = options.pkiDir ? resolve(options.pkiDir) : join(resolve(options.projectDir), 'line', 'pki');
    this.retryMs = options.retryMs ?? 5000;
  }

  /** The endpoint URL clients connect to. */
  get endpointUrl(): string {
    const h = this.host === '0.0.0.0' || this.host === '::' ? osHostname() : this.host;
    return `opc.tcp://${h.includes(':') ? `[${h}]` : h}:${this.port}`;
  }

  start(): Promise<void> {
    this.wanted = true;
    return this.serial(() => this.tryStart());
  }

  private async tryStart(): Promise<void> {
    if (!this.wanted || this.server) return;
    this.clearRetry();
    let lib: OpcuaLib;
    try {
      lib = await (opcuaLib ??= loadOpcua());
    } catch (e) {
      opcuaLib = null;
      this.startError = `cannot load node-opcua: ${errorText(e)}`;
      this.scheduleRetry();
      return;
    }
    this.lib = lib;
    const { OPCUAServer, OPCUACertificateManager, SecurityPolicy, MessageSecurityMode, RegisterServerMethod } = lib;
    const loopback = isLoopbackHost(this.host);
    const anyAddress = this.host === '0.0.0.0' || this.host === '::';
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: this.pkiDir,
      automaticallyAcceptUnknownCertificate: false,
    });
    const userCertificateManager = new OPCUACertificateManager({
      rootFolder: join(this.pkiDir, 'user'),
      automaticallyAcceptUnknownCertificate: false,
    });
    const server = new OPCUAServer({
      port: this.port,
      host: this.host,
      ...(anyAddress ? {} : { hostname: this.host }),
      serverInfo: {
        applicationUri: OPCUA_NAMESPACE_URI,
        productUri: 'urn:kensa',
        applicationName: { text: 'Kensa line results', locale: 'en' },
      },
      buildInfo: { productName: 'Kensa', manufacturerName: 'Kensa', productUri: 'urn:kensa' },
      securityPolicies: loopback ? [SecurityPolicy.None, SecurityPolicy.Basic256Sha256] : [SecurityPolicy.Basic256Sha256],
      securityModes: loopback ? [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.SignAndEncrypt],
      allowAnonymous: true,
      serverCertificateManager,
      userCertificateManager,
      registerServerMethod: RegisterServerMethod.HIDDEN,
      maxConnectionsPerEndpoint: 32,
    });
    try {
      await server.initialize();
      const addressSpace = server.engine.addressSpace;
      if (!addressSpace) throw new Error('the address space did not load');
      this.buildAddressSpace(addressSpace);
      await server.start();
    } catch (e) {
      this.startError = `cannot serve OPC UA on ${this.host}:${this.port}: ${errorText(e)}`;
      this.namespace = null;
      this.stationsFolder = null;
      this.stations.clear();
      await server.shutdown(0).catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    this.server = server;
    this.listening = true;
    this.startError = null;
  }

  private scheduleRetry(): void {
    if (!this.wanted || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.serial(() => this.tryStart());
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private buildAddressSpace(addressSpace: AddressSpace): void {
    const ns = addressSpace.getOwnNamespace();
    this.namespace = ns;
    const kensa = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'Kensa',
      nodeId: 's=Kensa',
      description: 'Kensa visual inspection: the last result per station',
    });
    this.stationsFolder = ns.addObject({ componentOf: kensa, typeDefinition: 'FolderType', browseName: 'Stations', nodeId: 's=Kensa.Stations' });
    this.stations.clear();
    if (this.station !== undefined) this.stationNodes(this.station);
  }

  /** The nodes of a station, made on first use. */
  private stationNodes(station: string): StationNodes {
    const key = opcuaStationKey(station);
    const existing = this.stations.get(key);
    if (existing) return existing;
    const ns = this.namespace;
    const folder = this.stationsFolder;
    const lib = this.lib;
    if (!ns || !folder || !lib) throw outputError('opcua', 'the address space is not built');
    const { DataType, StatusCodes, VariantArrayType } = lib;
    const base = `Kensa.Stations.${key}`;
    const obj = ns.addObject({ organizedBy: folder, browseName: key, nodeId: `s=${base}`, displayName: station });
    const count = ns.addVariable({
      componentOf: obj,
      browseName: 'ResultCount',
      nodeId: `s=${base}.ResultCount`,
      dataType: 'UInt32',
      accessLevel: 'CurrentRead',
      userAccessLevel: 'CurrentRead',
      minimumSamplingInterval: 0,
      value: { dataType: DataType.UInt32, value: 0 },
    });
    const last = ns.addObject({ componentOf: obj, browseName: 'LastResult', nodeId: `s=${base}.LastResult` });
    const vars = new Map<string, UAVariable>();
    for (const spec of LAST_RESULT) {
      const v = ns.addVariable({
        componentOf: last,
        browseName: spec.name,
        nodeId: `s=${base}.LastResult.${spec.name}`,
        dataType: DataType[spec.dataType],
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        minimumSamplingInterval: 0,
      });
      v.setValueFromSource({ dataType: DataType[spec.dataType], arrayType: VariantArrayType.Scalar, value: initialValue(spec.dataType) }, StatusCodes.BadWaitingForInitialData);
      vars.set(spec.name, v);
    }
    const nodes: StationNodes = { count, results: 0, vars };
    this.stations.set(key, nodes);
    return nodes;
  }

  deliver(result: LineResult): Promise<void> {
    return this.serial(async () => {
      try {
        if (!this.listening) {
          throw outputError('opcua', this.startError ?? (this.wanted ? `the server on ${this.host}:${this.port} is starting` : 'deliver before start()'));
        }
        const nodes = this.stationNodes(result.station);
        const { DataType, StatusCodes, VariantArrayType } = this.lib!;
        const values = LAST_RESULT.map((spec) => ({ spec, value: spec.value(result) }));
        const now = new Date();
        // One synchronous step: no read or publish can run between these calls.
        for (const { spec, value } of values) {
          nodes.vars.get(spec.name)!.setValueFromSource({ dataType: DataType[spec.dataType], arrayType: VariantArrayType.Scalar, value }, StatusCodes.Good, now);
        }
        nodes.results = nodes.results >= UINT32_MAX ? 0 : nodes.results + 1;
        nodes.count.setValueFromSource({ dataType: DataType.UInt32, value: nodes.results }, StatusCodes.Good, now);
      } catch (e) {
        const err = e instanceof KensaError ? e : outputError('opcua', `could not set the variables for seq ${result.seq}: ${errorText(e)}`, { cause: e });
        this.deliverError = err.message;
        throw err;
      }
      this.deliverError = null;
    });
  }

  status(): SinkStatus {
    return {
      name: 'opcua',
      ready: this.listening,
      lastError: this.deliverError ?? (this.listening ? null : this.startError),
      target: this.endpointUrl,
    };
  }

  async close(): Promise<void> {
    this.wanted = false;
    this.clearRetry();
    await this.serial(async () => {
      const server = this.server;
      this.server = null;
      this.listening = false;
      this.namespace = null;
      this.stationsFolder = null;
      this.stations.clear();
      if (server) await server.shutdown(0);
    });
  }
}

export function createOpcuaSink(options: OpcuaSinkOptions): OpcuaSink {
  return new OpcuaSink(options);
}

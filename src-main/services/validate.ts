/**
 * Argument validation for every API call (IPC and loopback host alike): untrusted input from
 * the renderer is checked for shape, type and range before any service runs, and a bad call
 * gets an INVALID_ARGUMENT error that says which field is wrong and why.
 */
import { DETECTOR_IDS } from '../engine/model-types';
import type { ApiMethod, ArgsOf } from '../shared/api';
import { KensaError } from '../shared/errors';
import { validateRegions } from './regions';

type Obj = Record<string, unknown>;

function fail(method: string, msg: string): never {
  throw new KensaError('INVALID_ARGUMENT', `${method}: ${msg}`);
}

function obj(method: string, v: unknown): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(method, 'arguments must be an object');
  return v as Obj;
}

function only(method: string, o: Obj, keys: string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(method, `unknown field "${k}"`);
}

function str(method: string, o: Obj, key: string, opts: { max?: number; optional?: boolean; nonEmpty?: boolean } = {}): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    fail(method, `"${key}" is required`);
  }
  if (typeof v !== 'string') fail(method, `"${key}" must be a string`);
  const max = opts.max ?? 4096;
  if (v.length > max) fail(method, `"${key}" is longer than ${max} characters`);
  if (v.includes('\0')) fail(method, `"${key}" contains a NUL character`);
  if (opts.nonEmpty !== false && v.trim().length === 0) fail(method, `"${key}" must not be empty`);
  return v;
}

function int(method: string, o: Obj, key: string, min: number, max: number, optional = false): number | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(method, `"${key}" must be an integer from ${min} to ${max}`);
  return v;
}

function num(method: string, o: Obj, key: string, min: number, max: number, optional = false): number | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(method, `"${key}" must be a number from ${min} to ${max}`);
  return v;
}

function oneOf<T extends string>(method: string, o: Obj, key: string, allowed: readonly T[], optional = false): T | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(method, `"${key}" must be one of ${allowed.join(', ')}`);
  return v as T;
}

const IMAGE_ID = 2 ** 31 - 1;
const MAX_UPLOAD_FILES = 2000;

/** Validates (and normalises) the arguments of `method`; throws INVALID_ARGUMENT. */
export function validateArgs<M extends ApiMethod>(method: M, raw: unknown): ArgsOf<M> {
  const o = obj(method, raw);
  const m = method as ApiMethod;
  switch (m) {
    case 'app.info':
    case 'projects.state':
    case 'projects.close':
    case 'jobs.score':
    case 'jobs.refit':
    case 'jobs.compare':
    case 'jobs.learn':
    case 'models.compare':
    case 'models.propose':
    case 'stations.status':
      only(m, o, []);
      return {} as ArgsOf<M>;
    case 'app.setReviewer':
      only(m, o, ['name']);
      return { name: str(m, o, 'name', { max: 80 })!.trim() } as ArgsOf<M>;
    case 'app.pickFolder': {
      only(m, o, ['title']);
      const title = str(m, o, 'title', { optional: true, max: 200 });
      return (title === undefined ? {} : { title }) as ArgsOf<M>;
    }
    case 'app.downloadBackbone': {
      only(m, o, ['id']);
      const id = str(m, o, 'id', { optional: true, max: 100 });
      return (id === undefined ? {} : { id }) as ArgsOf<M>;
    }
    case 'app.showInFolder':
      only(m, o, ['path']);
      return { path: str(m, o, 'path', { max: 4096 })! } as ArgsOf<M>;
    case 'projects.create': {
      only(m, o, ['dir', 'name', 'store']);
      const store = o.store === undefined ? undefined : str(m, o, 'store', { max: 2000 })!.trim();
      if (store !== undefined && !/^postgres(ql)?:\/\//i.test(store)) fail(m, '"store" must be a postgres:// URL (leave it out for a one-station project)');
      return { dir: str(m, o, 'dir')!, name: str(m, o, 'name', { max: 200 })!.trim(), ...(store !== undefined ? { store } : {}) } as ArgsOf<M>;
    }
    case 'projects.open':
      only(m, o, ['dir']);
      return { dir: str(m, o, 'dir')! } as ArgsOf<M>;
    case 'projects.createDemo': {
      only(m, o, ['dir']);
      const dir = str(m, o, 'dir', { optional: true });
      return (dir === undefined ? {} : { dir }) as ArgsOf<M>;
    }
    case 'images.import': {
      only(m, o, ['paths', 'role']);
      const paths = o.paths;
      if (!Array.isArray(paths) || paths.length === 0 || paths.length > 10_000) fail(m, '"paths" must be a list of 1 to 10,000 paths');
      paths.forEach((p, i) => {
        if (typeof p !== 'string' || p.trim().length === 0 || p.length > 4096 || p.includes('\0')) fail(m, `paths[${i}] must be a non-empty path`);
      });
      return { paths, role: oneOf(m, o, 'role', ['train', 'inspect'] as const)! } as ArgsOf<M>;
    }
    case 'images.upload': {
      only(m, o, ['files', 'role']);
      const files = o.files;
      if (!Array.isArray(files) || files.length === 0 || files.length > MAX_UPLOAD_FILES) fail(m, `"files" must be a list of 1 to ${MAX_UPLOAD_FILES} files`);
      const clean = files.map((f, i) => {
        const fo = obj(m, f);
        only(`${m} files[${i}]`, fo, ['name', 'dataBase64']);
        const name = str(`${m} files[${i}]`, fo, 'name', { max: 255 })!;
        if (name.includes('/') || name.includes('\\') || name === '.' || name === '..') fail(m, `files[${i}].name must be a plain file name, got "${name}"`);
        const data = str(`${m} files[${i}]`, fo, 'dataBase64', { max: 512 * 1024 * 1024, nonEmpty: false })!;
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) fail(m, `files[${i}].dataBase64 is not base64`);
        return { name, dataBase64: data };
      });
      return { files: clean, role: oneOf(m, o, 'role', ['train', 'inspect'] as const)! } as ArgsOf<M>;
    }
    case 'images.get': {
      only(m, o, ['imageId', 'maxSide']);
      const maxSide = int(m, o, 'maxSide', 16, 8192, true);
      return { imageId: int(m, o, 'imageId', 1, IMAGE_ID)!, ...(maxSide === undefined ? {} : { maxSide }) } as ArgsOf<M>;
    }
    case 'images.map':
    case 'images.thumbnail':
    case 'review.part':
    case 'review.undo':
    case 'review.claim':
    case 'review.release':
      only(m, o, ['imageId']);
      return { imageId: int(m, o, 'imageId', 1, IMAGE_ID)! } as ArgsOf<M>;
    case 'jobs.fit': {
      only(m, o, ['backbone', 'coresetRatio', 'detector']);
      const backbone = str(m, o, 'backbone', { optional: true, max: 1024 });
      const coresetRatio = num(m, o, 'coresetRatio', 0.001, 1, true);
      const detector = oneOf(m, o, 'detector', DETECTOR_IDS, true);
      if (coresetRatio !== undefined && detector !== undefined && detector !== 'patchcore') fail(m, `"coresetRatio" is a PatchCore setting, not one of ${detector}`);
      return {
        ...(backbone === undefined ? {} : { backbone }),
        ...(coresetRatio === undefined ? {} : { coresetRatio }),
        ...(detector === undefined ? {} : { detector }),
      } as ArgsOf<M>;
    }
    case 'models.learnPreview':
      only(m, o, ['version']);
      return { version: int(m, o, 'version', 1, IMAGE_ID)! } as ArgsOf<M>;
    case 'models.accept':
      only(m, o, ['version', 'reason']);
      return { version: int(m, o, 'version', 1, IMAGE_ID)!, reason: str(m, o, 'reason', { max: 2000 })! } as ArgsOf<M>;
    case 'jobs.cancel':
      only(m, o, ['jobId']);
      return { jobId: str(m, o, 'jobId', { max: 100 })! } as ArgsOf<M>;
    case 'review.queue': {
      only(m, o, ['filter', 'after', 'limit']);
      const filter = oneOf(m, o, 'filter', ['all', 'unreviewed', 'flagged', 'passed', 'good', 'defect'] as const, true);
      const limit = int(m, o, 'limit', 1, 500, true);
      let after: { score: number | null; id: number } | undefined;
      if (o.after !== undefined && o.after !== null) {
        if (typeof o.after !== 'object' || Array.isArray(o.after)) fail(m, '"after" must be a cursor { score, id }');
        const c = o.after as Obj;
        only(`${m} after`, c, ['score', 'id']);
        const id = int(m, c, 'id', 0, IMAGE_ID)!;
        const score = c.score === null ? null : num(m, c, 'score', -Number.MAX_VALUE, Number.MAX_VALUE)!;
        after = { score, id };
      }
      return { ...(filter === undefined ? {} : { filter }), ...(after ? { after } : {}), ...(limit === undefined ? {} : { limit }) } as ArgsOf<M>;
    }
    case 'review.verdict': {
      only(m, o, ['imageId', 'verdict', 'defectType', 'comment', 'regions']);
      const verdict = oneOf(m, o, 'verdict', ['good', 'defect'] as const)!;
      const defectType = str(m, o, 'defectType', { optional: true, max: 100 }) ?? null;
      const comment = str(m, o, 'comment', { optional: true, max: 2000, nonEmpty: false }) ?? null;
      if (defectType !== null && verdict !== 'defect') fail(m, 'a defect type goes only with a defect verdict');
      const regions = o.regions === undefined || o.regions === null ? null : validateRegions(o.regions);
      return { imageId: int(m, o, 'imageId', 1, IMAGE_ID)!, verdict, defectType, comment, regions } as ArgsOf<M>;
    }
    case 'projects.updateSettings': {
      only(m, o, ['autoRefitAfter', 'requireSignIn', 'fourEyes']);
      const out: Record<string, unknown> = {};
      if ('autoRefitAfter' in o) {
        const v = o.autoRefitAfter;
        if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100_000)) fail(m, '"autoRefitAfter" must be null or an integer from 1 to 100000');
        out.autoRefitAfter = v;
      }
      for (const k of ['requireSignIn', 'fourEyes'] as const) {
        if (o[k] === undefined) continue;
        if (typeof o[k] !== 'boolean') fail(m, `"${k}" must be true or false`);
        out[k] = o[k];
      }
      if (Object.keys(out).length === 0) fail(m, 'nothing to change: give autoRefitAfter, requireSignIn or fourEyes');
      return out as ArgsOf<M>;
    }
    case 'accounts.list':
    case 'accounts.signOut':
      only(m, o, []);
      return {} as ArgsOf<M>;
    case 'accounts.create': {
      only(m, o, ['name', 'printedName', 'role', 'password']);
      return {
        name: str(m, o, 'name', { max: 80 })!.trim(),
        printedName: str(m, o, 'printedName', { max: 200 })!.trim(),
        role: oneOf(m, o, 'role', ['reviewer', 'approver', 'administrator'] as const)!,
        password: str(m, o, 'password', { max: 256, nonEmpty: false })!,
      } as ArgsOf<M>;
    }
    case 'accounts.update': {
      only(m, o, ['name', 'role', 'disabled']);
      if (o.disabled !== undefined && typeof o.disabled !== 'boolean') fail(m, '"disabled" must be true or false');
      const role = oneOf(m, o, 'role', ['reviewer', 'approver', 'administrator'] as const, true);
      return { name: str(m, o, 'name', { max: 80 })!.trim(), ...(role ? { role } : {}), ...(o.disabled === undefined ? {} : { disabled: o.disabled }) } as ArgsOf<M>;
    }
    case 'accounts.signIn': {
      only(m, o, ['name', 'password']);
      return { name: str(m, o, 'name', { max: 80 })!.trim(), password: str(m, o, 'password', { max: 256, nonEmpty: false })! } as ArgsOf<M>;
    }
    case 'accounts.changePassword': {
      only(m, o, ['name', 'oldPassword', 'newPassword']);
      return {
        name: str(m, o, 'name', { max: 80 })!.trim(),
        oldPassword: str(m, o, 'oldPassword', { max: 256, nonEmpty: false })!,
        newPassword: str(m, o, 'newPassword', { max: 256, nonEmpty: false })!,
      } as ArgsOf<M>;
    }
    case 'review.confirm':
      only(m, o, ['imageId']);
      return { imageId: int(m, o, 'imageId', 1, Number.MAX_SAFE_INTEGER)! } as ArgsOf<M>;
    case 'sign.record': {
      only(m, o, ['recordKind', 'recordId', 'version', 'meaning', 'password', 'name']);
      const recordKind = oneOf(m, o, 'recordKind', ['threshold', 'activation', 'report'] as const)!;
      const recordId = str(m, o, 'recordId', { max: 300, optional: true });
      const version = int(m, o, 'version', 1, 1_000_000, true);
      if (recordId === undefined && recordKind === 'report') fail(m, '"recordId" (the report file in exports/) is required');
      if (recordId === undefined && recordKind === 'activation' && version === undefined) fail(m, '"recordId" or "version" is required for an activation');
      const name = str(m, o, 'name', { max: 80, optional: true });
      return {
        recordKind,
        ...(recordId === undefined ? {} : { recordId }),
        ...(version === undefined ? {} : { version }),
        meaning: oneOf(m, o, 'meaning', ['reviewed', 'approved', 'responsible'] as const)!,
        password: str(m, o, 'password', { max: 256, nonEmpty: false })!,
        ...(name === undefined ? {} : { name: name.trim() }),
      } as ArgsOf<M>;
    }
    case 'sign.list': {
      only(m, o, ['recordKind', 'recordId']);
      const recordKind = oneOf(m, o, 'recordKind', ['threshold', 'activation', 'report'] as const, true);
      const recordId = str(m, o, 'recordId', { max: 300, optional: true });
      return { ...(recordKind ? { recordKind } : {}), ...(recordId === undefined ? {} : { recordId }) } as ArgsOf<M>;
    }
    case 'regions.export':
    case 'line.status':
    case 'line.settings':
    case 'storage.usage':
    case 'storage.apply':
      only(m, o, []);
      return {} as ArgsOf<M>;
    case 'line.configure': {
      // The shape is checked field by field by the store (store/line-settings.ts), which names the field.
      only(m, o, ['settings']);
      const settings = o.settings;
      if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) fail(m, '"settings" must be an object');
      return { settings } as ArgsOf<M>;
    }
    case 'storage.configure': {
      only(m, o, ['retention']);
      const retention = o.retention;
      if (retention === null || typeof retention !== 'object' || Array.isArray(retention)) fail(m, '"retention" must be an object');
      return { retention } as ArgsOf<M>;
    }
    case 'threshold.set': {
      only(m, o, ['value', 'reason', 'margin', 'marginKind', 'reviewUpper', 'basedOn']);
      const basedOn = o.basedOn === undefined ? undefined : o.basedOn === null ? null : int(m, o, 'basedOn', 1, Number.MAX_SAFE_INTEGER)!;
      const value = num(m, o, 'value', -1e9, 1e9)!;
      const margin = o.margin === null ? null : (num(m, o, 'margin', 0, 1e9, true) ?? null);
      const marginKind = o.marginKind === null ? null : (oneOf(m, o, 'marginKind', ['absolute', 'spread'] as const, true) ?? null);
      if ((margin === null) !== (marginKind === null)) fail(m, '"margin" and "marginKind" go together');
      const reviewUpper = o.reviewUpper === null ? null : (num(m, o, 'reviewUpper', -1e9, 1e9, true) ?? null);
      if (reviewUpper !== null && reviewUpper <= value) fail(m, '"reviewUpper" (reject threshold) must be above "value"');
      return { value, reason: str(m, o, 'reason', { max: 2000 })!.trim(), margin, marginKind, reviewUpper, ...(basedOn !== undefined ? { basedOn } : {}) } as ArgsOf<M>;
    }
    case 'threshold.stats': {
      only(m, o, ['threshold', 'margin', 'reject', 'log', 'bins']);
      const out: Record<string, unknown> = {};
      const t = num(m, o, 'threshold', -1e9, 1e9, true);
      if (t !== undefined) out.threshold = t;
      if (o.margin !== undefined) {
        const mo = obj(m, o.margin);
        only(`${m} margin`, mo, ['kind', 'value']);
        out.margin = { kind: oneOf(`${m} margin`, mo, 'kind', ['absolute', 'spread'] as const)!, value: num(`${m} margin`, mo, 'value', 0, 1e9)! };
      }
      if (o.reject !== undefined && o.reject !== null) out.reject = num(m, o, 'reject', -1e9, 1e9);
      if (o.log !== undefined) {
        if (typeof o.log !== 'boolean') fail(m, '"log" must be true or false');
        out.log = o.log;
      }
      const bins = int(m, o, 'bins', 2, 400, true);
      if (bins !== undefined) out.bins = bins;
      return out as ArgsOf<M>;
    }
    case 'report.export': {
      only(m, o, ['format', 'from', 'to']);
      const format = oneOf(m, o, 'format', ['pdf', 'html', 'csv', 'json'] as const)!;
      const date = (k: string): string | undefined => {
        const v = str(m, o, k, { optional: true, max: 40 });
        if (v !== undefined && Number.isNaN(Date.parse(v))) fail(m, `"${k}" must be a date (YYYY-MM-DD) or an ISO timestamp`);
        return v;
      };
      const from = date('from');
      const to = date('to');
      return { format, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) } as ArgsOf<M>;
    }
    case 'models.rollback':
      only(m, o, ['version', 'reason']);
      return { version: int(m, o, 'version', 1, 1e9)!, reason: str(m, o, 'reason', { max: 2000 })!.trim() } as ArgsOf<M>;
  }
  return fail(method, 'unknown method');
}

/**
 * `accounts.*` and `sign.*`: accounts with roles, sign-in, the second review queue, and
 * electronic signatures over thresholds, model activations and reports.
 */
import type { AccountInfo, AccountsData } from '../../../shared/api';
import { KensaError } from '../../../shared/errors';
import {
  authenticate,
  awaitingSecondReview,
  changePassword,
  countActiveAccounts,
  createAccount,
  getAccount,
  listAccounts,
  listSignatures,
  signRecord,
  signaturesFor,
  updateAccount,
  type Account,
} from '../../../store/index';
import { activationEvent, recordContentHash, roleAllows, SIGN_ROLE } from '../../accounts';
import { reportHtml, type ReportModel } from '../../report/index';
import { reportContentHash, writeSignedRendition } from '../../report-signing';
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { signatureInfo } from '../dto';

export function accountInfo(a: Account): AccountInfo {
  return { name: a.name, printedName: a.printedName, role: a.role, createdAt: a.createdAt, disabled: a.disabledAt !== null };
}

export function accountsData(ctx: WorkstationContext): AccountsData {
  const p = ctx.need();
  const settings = p.settings();
  const scope = p.queueScope();
  const waiting = awaitingSecondReview(p.db, scope.modelVersion, scope.threshold);
  const paths = new Map((p.db.prepare(`SELECT id, path FROM images WHERE id IN (${waiting.map((w) => w.imageId).join(',') || '0'})`).all() as { id: number; path: string }[]).map((r) => [r.id, r.path]));
  return {
    accounts: listAccounts(p.db).map(accountInfo),
    signedIn: ctx.signedIn ? accountInfo(ctx.signedIn) : null,
    requireSignIn: settings.requireSignIn,
    fourEyes: settings.fourEyes,
    awaitingSecond: waiting.map((w) => ({ imageId: w.imageId, name: (paths.get(w.imageId) ?? '').split('/').pop() ?? '', reviewer: w.reviewer, createdAt: w.createdAt })),
  };
}

export function accountHandlers(ctx: WorkstationContext): NamespaceHandlers<'accounts' | 'sign'> {
  return {
    'accounts.list': async () => accountsData(ctx),
    'accounts.create': async (a) => {
      const p = ctx.need();
      // The first account of a project is made by whoever sets accounts up, and is its administrator.
      const first = countActiveAccounts(p.db) === 0;
      if (first && a.role !== 'administrator') throw new KensaError('INVALID_ARGUMENT', 'the first account of a project must be an administrator');
      const actor = first ? (ctx.settings.reviewer ?? a.name) : ctx.authorize('accounts', true);
      createAccount(p.db, a, actor);
      return accountsData(ctx);
    },
    'accounts.update': async ({ name, role, disabled }) => {
      const p = ctx.need();
      const actor = ctx.authorize('accounts', true);
      updateAccount(p.db, name, { ...(role ? { role } : {}), ...(disabled === undefined ? {} : { disabled }) }, actor);
      if (ctx.signedIn?.name === name) ctx.signedIn = getAccount(p.db, name);
      return accountsData(ctx);
    },
    'accounts.signIn': async ({ name, password }) => {
      const p = ctx.need();
      const { account } = authenticate(p.db, name, password);
      ctx.signedIn = account;
      ctx.settings.reviewer = account.name;
      await ctx.saveSettings();
      ctx.emitState();
      return accountsData(ctx);
    },
    'accounts.signOut': async () => {
      ctx.signedIn = null;
      return accountsData(ctx);
    },
    'accounts.changePassword': async ({ name, oldPassword, newPassword }) => {
      changePassword(ctx.need().db, name, oldPassword, newPassword);
      return accountsData(ctx);
    },
    'sign.record': async ({ recordKind, recordId, version, meaning, password, name }) => {
      const p = ctx.need();
      const signer = ctx.signedIn?.name ?? name;
      if (!signer) throw new KensaError('INVALID_ARGUMENT', 'sign in, or give the signer\'s name, to sign');
      const account = getAccount(p.db, signer);
      if (!account) throw new KensaError('AUTH_FAILED', 'the name or the password is wrong (or the account is disabled)');
      if (!roleAllows(account.role, SIGN_ROLE[meaning])) throw new KensaError('FORBIDDEN', `${signer} is a ${account.role}: signing as "${meaning}" needs an approver or administrator`);
      let id = recordId;
      if (recordKind === 'threshold' && id === undefined) {
        // The threshold in force.
        const t = p.threshold();
        if (!t) throw new KensaError('NOT_FOUND', 'no threshold is set: nothing to sign');
        id = String(t.id);
      }
      if (recordKind === 'activation' && id === undefined) {
        const seq = activationEvent(p.db, version!);
        if (seq === null) throw new KensaError('NOT_FOUND', `v${version} was never made active`);
        id = String(seq);
      }
      const contentHash = recordKind === 'report' ? (await reportContentHash(p, id!)).contentHash : recordContentHash(p.db, recordKind, id!).contentHash;
      const s = signRecord(p.db, { recordKind, recordId: id!, contentHash, meaning }, signer, password);
      // The signed rendition: <name>.signed.json, and for an HTML report <name>.signed.html with the signatures printed.
      if (recordKind === 'report') await writeSignedRendition(p, id!, (data, sigs) => reportHtml(data as unknown as ReportModel, { reportSignatures: sigs }));
      // The threshold history and the model list show the signatures of their records.
      ctx.emitState();
      return signatureInfo(s);
    },
    'sign.list': async ({ recordKind, recordId }) => {
      const db = ctx.need().db;
      const all = recordKind !== undefined && recordId !== undefined ? signaturesFor(db, recordKind, recordId) : listSignatures(db).filter((s) => recordKind === undefined || s.recordKind === recordKind);
      return all.map(signatureInfo);
    },
  };
}

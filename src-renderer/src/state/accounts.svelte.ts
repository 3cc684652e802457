/**
 * Accounts of the open project (they live in the project), who is signed in, the project's
 * sign-in / four-eyes settings, and the good verdicts waiting for a second reviewer.
 */
import type { AccountsData, RoleName, SignatureInfo } from '../../../src-main/shared/api';
import { api } from '../lib/api';

export class AccountsState {
  data = $state.raw<AccountsData | null>(null);
  /** The dialog is open. */
  open = $state(false);

  readonly signedIn = $derived(this.data?.signedIn ?? null);
  readonly hasAccounts = $derived((this.data?.accounts.length ?? 0) > 0);
  readonly isAdmin = $derived(this.data?.signedIn?.role === 'administrator' || (this.data !== null && !this.hasAccounts));
  readonly awaitingSecond = $derived(this.data?.awaitingSecond ?? []);

  async load(): Promise<AccountsData> {
    const d = await api.accounts.list();
    this.data = d;
    return d;
  }

  reset(): void {
    this.data = null;
    this.open = false;
  }

  async signIn(name: string, password: string): Promise<AccountsData> {
    return (this.data = await api.accounts.signIn({ name, password }));
  }

  async signOut(): Promise<AccountsData> {
    return (this.data = await api.accounts.signOut());
  }

  async create(a: { name: string; printedName: string; role: RoleName; password: string }): Promise<AccountsData> {
    return (this.data = await api.accounts.create({ ...a }));
  }

  async update(name: string, change: { role?: RoleName; disabled?: boolean }): Promise<AccountsData> {
    return (this.data = await api.accounts.update({ name, ...change }));
  }

  async setSecurity(change: { requireSignIn?: boolean; fourEyes?: boolean }): Promise<AccountsData> {
    await api.projects.updateSettings({ ...change });
    return this.load();
  }

  async confirm(imageId: number): Promise<void> {
    await api.review.confirm({ imageId });
    await this.load();
  }
}

export const accounts = new AccountsState();

/** "Paula Approver — approved, 2026-11-30 05:12 UTC" */
export function signatureLine(s: SignatureInfo): string {
  return `${s.printedName} — ${s.meaning}, ${s.signedAt.slice(0, 16).replace('T', ' ')} UTC${s.valid ? '' : ' (DOES NOT VERIFY)'}`;
}

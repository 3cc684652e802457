/**
 * Toasts: short notices and readable errors (which file, what is wrong), never a stack
 * trace. Errors stay until dismissed; notices fade after a few seconds.
 */
import { describeError } from '../lib/api';

export type ToastKind = 'error' | 'info' | 'success' | 'warning';

export interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  message: string;
  file?: string;
  code?: string;
}

const MAX_TOASTS = 5;
const NOTICE_MS = 5000;
const ERROR_MS = 20000;

export class ToastState {
  items = $state<Toast[]>([]);
  private nextId = 1;

  push(t: Omit<Toast, 'id'>): number {
    const id = this.nextId++;
    this.items = [...this.items.filter((x) => !(x.title === t.title && x.message === t.message)), { ...t, id }].slice(-MAX_TOASTS);
    setTimeout(() => this.dismiss(id), t.kind === 'error' ? ERROR_MS : NOTICE_MS);
    return id;
  }

  info(title: string, message = ''): number {
    return this.push({ kind: 'info', title, message });
  }

  success(title: string, message = ''): number {
    return this.push({ kind: 'success', title, message });
  }

  warning(title: string, message = ''): number {
    return this.push({ kind: 'warning', title, message });
  }

  /** Reports any thrown value as a readable error toast. */
  error(e: unknown, title?: string): number {
    const d = describeError(e);
    return this.push({ kind: 'error', ...d, ...(title ? { title } : {}) });
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }

  clear(): void {
    this.items = [];
  }
}

export const toasts = new ToastState();

/** Runs an action; a failure becomes an error toast and the result is undefined. */
export async function attempt<T>(fn: () => Promise<T>, title?: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    toasts.error(e, title);
    return undefined;
  }
}

/**
 * Data loaded from one API call that screens reload whenever the project changes. Loads
 * coalesce: a load asked for while one is in flight runs once more afterwards, so the last
 * state always wins and at most one call is in flight.
 */
export class Reloadable<T> {
  data = $state.raw<T | null>(null);
  loading = $state(false);
  error = $state<unknown>(null);
  private again = false;

  constructor(private readonly fetch: () => Promise<T>) {}

  async load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        try {
          this.data = await this.fetch();
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      } while (this.again);
    } finally {
      this.loading = false;
    }
  }

  reset(): void {
    this.data = null;
    this.error = null;
  }
}

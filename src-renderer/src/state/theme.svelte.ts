/**
 * Dark / light theme. The choice is remembered in localStorage; until the user picks one the
 * theme follows the system (`prefers-color-scheme`), live.
 */
export type Theme = 'dark' | 'light';

const KEY = 'kensa.theme';

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'dark' || v === 'light' ? v : null;
  } catch {
    return null;
  }
}

function system(): Theme {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export class ThemeState {
  theme = $state<Theme>(stored() ?? system());
  /** True once the user chose a theme (then the system setting no longer applies). */
  chosen = $state(stored() !== null);

  constructor() {
    this.apply();
    if (typeof matchMedia === 'function') {
      matchMedia('(prefers-color-scheme: light)').addEventListener('change', () => {
        if (!this.chosen) {
          this.theme = system();
          this.apply();
        }
      });
    }
  }

  set(theme: Theme): void {
    this.theme = theme;
    this.chosen = true;
    try {
      localStorage.setItem(KEY, theme);
    } catch {
      // storage unavailable: the choice lasts for this session
    }
    this.apply();
  }

  toggle(): void {
    this.set(this.theme === 'dark' ? 'light' : 'dark');
  }

  /** Switches at once: colour transitions are held off for the frame of the switch. */
  private apply(): void {
    const root = document.documentElement;
    root.classList.add('theme-switching');
    root.dataset['theme'] = this.theme;
    void root.offsetHeight; // flush styles with transitions off
    requestAnimationFrame(() => root.classList.remove('theme-switching'));
  }
}

export const theme = new ThemeState();

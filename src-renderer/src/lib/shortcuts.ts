/** Every keyboard shortcut, as the help overlay (`?`) lists them. Keep in sync with the handlers. */
export interface Shortcut {
  /** Alternatives; each alternative is a key combination shown as <kbd>s. */
  keys: string[][];
  label: string;
}

export interface ShortcutGroup {
  title: string;
  items: Shortcut[];
}

export const SHORTCUTS: ShortcutGroup[] = [
  {
    title: 'Queue (Review screen)',
    items: [
      { keys: [['J'], ['↓']], label: 'Next part' },
      { keys: [['K'], ['↑']], label: 'Previous part' },
      { keys: [['Home'], ['End']], label: 'First / last part in the list' },
      { keys: [['F']], label: 'Cycle the filter: all → unreviewed → flagged → passed → good → defect' },
    ],
  },
  {
    title: 'Verdict (Review screen)',
    items: [
      { keys: [['G']], label: 'Good part, then open the next unreviewed part' },
      { keys: [['D']], label: 'Defect: asks for an optional defect type (Enter saves, Esc skips the type)' },
      { keys: [['U']], label: 'Undo the last verdict on this part' },
    ],
  },
  {
    title: 'Part view (Review screen)',
    items: [
      { keys: [['Space']], label: 'Heatmap on / off' },
      { keys: [['S']], label: 'Side by side: image | heatmap' },
      { keys: [['['], [']']], label: 'Heatmap opacity down / up' },
      { keys: [['+'], ['=']], label: 'Zoom in' },
      { keys: [['-']], label: 'Zoom out' },
      { keys: [['0']], label: 'Zoom to fit' },
      { keys: [['Wheel']], label: 'Zoom at the pointer' },
      { keys: [['Drag']], label: 'Pan' },
    ],
  },
  {
    title: 'Mark defect regions (Review screen)',
    items: [
      { keys: [['R']], label: 'Mark defect mode on / off (regions are saved with the next Defect verdict, D)' },
      { keys: [['Esc']], label: 'Leave the mode (drawn regions are kept until the verdict)' },
      { keys: [['P'], ['B']], label: 'Polygon tool / brush tool' },
      { keys: [['Click']], label: 'Polygon: add a point' },
      { keys: [['Enter'], ['Double-click']], label: 'Polygon: close it (3 points or more)' },
      { keys: [['Backspace']], label: 'Polygon: remove the last point' },
      { keys: [['Drag']], label: 'Brush: paint a stroke (Polygon: a drag pans)' },
      { keys: [['Shift', 'Drag'], ['Middle drag']], label: 'Pan while marking' },
      { keys: [[','], ['.']], label: 'Brush size down / up' },
      { keys: [['Ctrl', 'Z']], label: 'Undo the last region (or the polygon being drawn)' },
    ],
  },
  {
    title: 'Everywhere',
    items: [
      { keys: [['?']], label: 'Show / hide this help' },
      { keys: [['Esc']], label: 'Close the open dialog or overlay' },
      { keys: [['Alt', '1'], ['…'], ['Alt', '6']], label: 'Screens: Import, Fit & score, Review, Threshold, Models, Line' },
    ],
  },
];

/** True when a key event comes from a text field (letters must not trigger shortcuts there). */
export function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['range', 'checkbox', 'radio', 'button', 'submit', 'reset', 'color', 'file'].includes(target.type);
  }
  return false;
}

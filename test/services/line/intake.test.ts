/**
 * Hot folders (src-main/services/line/intake.ts) on real folders: when a file counts as
 * complete (stable size and mtime; or a rename from a temporary name), claims in arrival
 * order, back-pressure, a folder that disappears and comes back, and claim numbers that go on
 * after a restart.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Intake, isWorkInProgress, parseInboxName, type ClaimedFile } from '../../../src-main/services/line/intake';
import type { WatchedFolder } from '../../../src-main/shared/line';

let tmp: string;
let watched: string;
let inbox: string;
let intake: Intake | null = null;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-intake-'));
  watched = path.join(tmp, 'in');
  inbox = path.join(tmp, 'project', 'line', 'inbox');
  mkdirSync(watched);
});

afterEach(() => {
  intake?.stop();
  intake = null;
  rmSync(tmp, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function start(folders: WatchedFolder[], capacity: () => number = () => 100): ClaimedFile[] {
  const claimed: ClaimedFile[] = [];
  intake = new Intake({ projectDir: path.join(tmp, 'project'), inboxDir: inbox, folders, capacity, onClaim: (c) => claimed.push(c), pollMs: 20 });
  void intake.start();
  return claimed;
}

describe('hot folder intake', () => {
  it('names that writers use for work in progress are never taken', () => {
    for (const n of ['.x.png', '~x.png', 'x.png.part', 'x.PNG.tmp', 'x.png.partial', 'x.crdownload', 'Thumbs.db', 'desktop.ini']) expect(isWorkInProgress(n)).toBe(true);
    for (const n of ['x.png', 'part.png', 'tmp-1.jpg']) expect(isWorkInProgress(n)).toBe(false);
  });

  it("'stable': a file written in pieces is taken only once it has stopped changing, whole, exactly once", async () => {
    const claimed = start([{ path: watched, completion: 'stable', stableMs: 300 }]);
    const f = path.join(watched, 'slow.png');
    const chunk = Buffer.alloc(1000, 7);
    writeFileSync(f, chunk);
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 120)); // below stableMs: still being written
      appendFileSync(f, chunk);
      expect(claimed).toHaveLength(0);
    }
    await until('the claim', () => claimed.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(claimed).toHaveLength(1);
    expect(readFileSync(claimed[0]!.inboxPath).length).toBe(7000);
    expect(readdirSync(watched)).toEqual([]);
    expect(parseInboxName(claimed[0]!.inboxPath)).toMatchObject({ claimSeq: 1, folderIndex: 0, name: 'slow.png' });
  });

  it("'rename': a temporary name is ignored; the rename completes the file and starts its latency clock", async () => {
    const claimed = start([{ path: watched, completion: 'rename', stableMs: 500 }]);
    writeFileSync(path.join(watched, 'a.png.part'), 'half');
    await new Promise((r) => setTimeout(r, 200));
    expect(claimed).toHaveLength(0);
    const t = Date.now();
    renameSync(path.join(watched, 'a.png.part'), path.join(watched, 'a.png'));
    await until('the claim', () => claimed.length === 1);
    expect(claimed[0]!.name).toBe('a.png');
    expect(Math.abs(claimed[0]!.completeAt - t)).toBeLessThan(50);
    expect(claimed[0]!.claimedAt - claimed[0]!.completeAt).toBeGreaterThanOrEqual(0);
  });

  it('arrival order across folders, and back-pressure: only as many claims as there is room for', async () => {
    const other = path.join(tmp, 'in2');
    mkdirSync(other);
    let room = 2;
    const claimed = start(
      [
        { path: watched, completion: 'rename', stableMs: 500 },
        { path: other, completion: 'rename', stableMs: 500 },
      ],
      () => room - claimedCount(),
    );
    const claimedCount = (): number => claimed.length;
    for (let i = 0; i < 5; i++) {
      writeFileSync(path.join(i % 2 === 0 ? watched : other, `p${i}.png`), `part ${i}`);
      await new Promise((r) => setTimeout(r, 15));
    }
    await until('two claims', () => claimed.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(claimed).toHaveLength(2);
    const waiting = intake!.folders().reduce((a, f) => a + f.waiting, 0);
    expect(waiting).toBe(3);
    room = 5;
    intake!.kick();
    await until('all claims', () => claimed.length === 5);
    expect(claimed.map((c) => c.name)).toEqual(['p0.png', 'p1.png', 'p2.png', 'p3.png', 'p4.png']);
    expect(claimed.map((c) => c.claimSeq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a folder that disappears is reported missing and watched until it comes back; nothing is lost', async () => {
    const claimed = start([{ path: watched, completion: 'rename', stableMs: 500 }]);
    writeFileSync(path.join(watched, 'before.png'), 'x');
    await until('the first claim', () => claimed.length === 1);
    rmSync(watched, { recursive: true });
    await until('missing', () => intake!.folders()[0]!.ok === false);
    expect(intake!.folders()[0]!.message).toMatch(/is missing: waiting for it to come back/);
    mkdirSync(watched);
    writeFileSync(path.join(watched, 'after.png'), 'y');
    await until('the second claim', () => claimed.length === 2);
    expect(intake!.folders()[0]).toMatchObject({ ok: true, message: null });
    expect(claimed.map((c) => c.name)).toEqual(['before.png', 'after.png']);
  });

  it('claim numbers go on after a restart (the inbox keeps the order)', async () => {
    const first = start([{ path: watched, completion: 'rename', stableMs: 500 }]);
    writeFileSync(path.join(watched, 'one.png'), '1');
    await until('claim', () => first.length === 1);
    intake!.stop();
    const second = start([{ path: watched, completion: 'rename', stableMs: 500 }]);
    writeFileSync(path.join(watched, 'two.png'), '2');
    await until('claim', () => second.length === 1);
    expect(second[0]!.claimSeq).toBe(2);
    expect(readdirSync(inbox).sort().map((n) => parseInboxName(n)!.name)).toEqual(['one.png', 'two.png']);
  });
});

/**
 * The few rewrites that let the store's SQL (written for SQLite) run on PostgreSQL, applied
 * once per statement text and cached:
 * - parameters: `?` (positional) and `@name` (named, as better-sqlite3 binds them) become
 *   `$1, $2, …`; a name used twice is one parameter;
 * - a camelCase column alias (`AS imageId`) is quoted, because PostgreSQL folds unquoted
 *   names to lower case and the repositories read rows by their alias;
 * - `CAST(… AS REAL)` becomes DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes; SQLite's is 8);
 * - SQLite's null-safe `IS ?` / `IS NOT ?` become IS [NOT] DISTINCT FROM;
 * - `LIMIT ?` bound to a negative number means "no limit" in SQLite: the same here;
 * - `CROSS JOIN t ON …` (SQLite's join-order hint) is a plain JOIN.
 * Nothing inside a string literal, a quoted identifier or a comment is touched.
 *
 * Everything else in the store is written in the SQL both engines share (standard UPSERT,
 * RETURNING, CTEs, window functions); where the engines really differ (pragmas, the schema
 * catalogue, triggers) the code branches on `dialectOf(db)` instead of rewriting here.
 */
import { createHash } from 'node:crypto';

export interface TranslatedSql {
  /** The statement with `$n` parameters. */
  text: string;
  /** For named parameters: the name bound to `$i+1`; null when the statement uses `?`. */
  names: string[] | null;
  /** How many `?` parameters the statement takes (0 with named ones). */
  positional: number;
  /** The server-side prepared statement's name (from the text's hash: one per distinct text). */
  name: string;
}

const cache = new Map<string, TranslatedSql>();

export function translateSql(sql: string): TranslatedSql {
  const hit = cache.get(sql);
  if (hit) return hit;
  const out = translate(sql);
  if (cache.size > 5000) cache.clear();
  cache.set(sql, out);
  return out;
}

function rewritePlain(s: string): string {
  return s
    .replace(/\bAS\s+([A-Za-z_][A-Za-z0-9_]*)\b/g, (m, id: string) => (/[a-z]/.test(id) && /[A-Z]/.test(id) ? `AS "${id}"` : m))
    .replace(/\bAS\s+REAL\s*\)/gi, 'AS DOUBLE PRECISION)')
    .replace(/\bIS\s+NOT\s+(\$\d+)/gi, 'IS DISTINCT FROM $1')
    .replace(/\bIS\s+(\$\d+)/gi, 'IS NOT DISTINCT FROM $1')
    .replace(/\bLIMIT\s+(\$\d+)/gi, 'LIMIT (CASE WHEN $1::bigint < 0 THEN NULL ELSE $1::bigint END)')
    .replace(/\bCROSS\s+JOIN(\s+\w+(?:\s+(?:AS\s+)?\w+)?\s+ON\b)/gi, 'JOIN$1');
}

function translate(sql: string): TranslatedSql {
  let out = '';
  let plain = '';
  const names: string[] = [];
  let positional = 0;
  let i = 0;
  const flush = (): void => {
    out += rewritePlain(plain);
    plain = '';
  };
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      flush();
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) break;
        if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      flush();
      const j = sql.indexOf('\n', i);
      const end = j < 0 ? sql.length : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      flush();
      const j = sql.indexOf('*/', i + 2);
      const end = j < 0 ? sql.length : j + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '?') {
      positional++;
      plain += `$${positional}`;
      i++;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_]/.test(sql[j])) j++;
      const name = sql.slice(i + 1, j);
      let k = names.indexOf(name);
      if (k < 0) k = names.push(name) - 1;
      plain += `$${k + 1}`;
      i = j;
    } else {
      plain += c;
      i++;
    }
  }
  flush();
  if (positional > 0 && names.length > 0) throw new TypeError(`a statement may not mix ? and @name parameters: ${sql.slice(0, 120)}`);
  return { text: out, names: names.length > 0 ? names : null, positional, name: `k${createHash('sha1').update(out).digest('hex').slice(0, 20)}` };
}

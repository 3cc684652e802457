/**
 * Which engine a store connection talks to. The repositories are written once, in the SQL
 * both engines share; the few places that must differ (pragmas, the schema catalogue,
 * backups, the change stamp) branch here.
 */
import type Database from 'better-sqlite3';
import { PgDb } from './pg/pg-db';

export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(db: unknown): Dialect {
  return db instanceof PgDb ? 'postgres' : 'sqlite';
}

/** The PostgreSQL connection behind `db`, or null for SQLite. */
export function asPg(db: Database.Database | PgDb | unknown): PgDb | null {
  return db instanceof PgDb ? db : null;
}

interface Preparable {
  prepare(sql: string): { pluck(on?: boolean): { all(...a: unknown[]): unknown[] } };
}

/** The project's table names. */
export function schemaTables(db: Preparable): Set<string> {
  const pg = asPg(db);
  if (pg) return new Set(pg.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [pg.schema]).rows.map((r) => r[0] as string));
  return new Set(db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table'`).pluck().all() as string[]);
}

/**
 * The project's trigger names. PostgreSQL: only the ENABLED ones (ALTER TABLE … DISABLE
 * TRIGGER is as good as dropping a guard, and is reported the same way).
 */
export function schemaTriggers(db: Preparable): Set<string> {
  const pg = asPg(db);
  if (pg) {
    return new Set(
      pg
        .query(
          `SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND NOT t.tgisinternal AND t.tgenabled <> 'D'`,
          [pg.schema],
        )
        .rows.map((r) => r[0] as string),
    );
  }
  return new Set(db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'trigger'`).pluck().all() as string[]);
}

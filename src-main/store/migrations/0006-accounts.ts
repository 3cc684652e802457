/**
 * Migration 6: accounts, electronic signatures, and second reviews (four eyes).
 *
 *   accounts       local accounts with a role (reviewer, approver, administrator), a slow
 *                  salted password hash (scrypt), and an Ed25519 key pair whose private key is
 *                  kept encrypted under a key derived from the password. The name, printed name
 *                  and public key never change (a trigger refuses it): a signature made with a
 *                  key can always be traced to its account.
 *   signatures     append-only: who signed which record (a threshold, a model activation, a
 *                  report), with what meaning (reviewed, approved, responsible), when, the
 *                  content hash signed and the Ed25519 signature over all of that.
 *   confirmations  append-only: a second reviewer confirming a good verdict on a flagged part
 *                  (four eyes), which is what lets that part into the memory bank when the
 *                  project asks for it.
 */
import type { Migration } from './index';

const HEX64 = (col: string) => `length(${col}) = 64 AND ${col} NOT GLOB '*[^0-9a-f]*'`;

export const migration0006: Migration = {
  version: 6,
  name: 'accounts',
  up(db) {
    db.exec(`
      CREATE TABLE accounts (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80 AND name = trim(name)),
        printed_name    TEXT NOT NULL CHECK (length(trim(printed_name)) > 0),
        role            TEXT NOT NULL CHECK (role IN ('reviewer', 'approver', 'administrator')),
        password_hash   TEXT NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
        public_key      TEXT NOT NULL,
        private_key_enc TEXT NOT NULL CHECK (json_valid(private_key_enc)),
        created_at      TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        disabled_at     TEXT NULL
      ) STRICT;
      CREATE TRIGGER accounts_identity_frozen BEFORE UPDATE ON accounts
        WHEN NEW.name IS NOT OLD.name OR NEW.printed_name IS NOT OLD.printed_name OR NEW.public_key IS NOT OLD.public_key
          OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by
        BEGIN SELECT RAISE(ABORT, 'an account''s name, printed name and key never change: create a new account instead'); END;
      CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
        BEGIN SELECT RAISE(ABORT, 'accounts are never deleted: disable the account instead'); END;

      CREATE TABLE signatures (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        record_kind  TEXT NOT NULL CHECK (record_kind IN ('threshold', 'activation', 'report')),
        record_id    TEXT NOT NULL CHECK (length(record_id) > 0),
        content_hash TEXT NOT NULL CHECK (${HEX64('content_hash')}),
        meaning      TEXT NOT NULL CHECK (meaning IN ('reviewed', 'approved', 'responsible')),
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        signer       TEXT NOT NULL,
        printed_name TEXT NOT NULL,
        signed_at    TEXT NOT NULL,
        public_key   TEXT NOT NULL,
        signature    TEXT NOT NULL
      ) STRICT;
      CREATE INDEX signatures_record ON signatures (record_kind, record_id, id);
      CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
        BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
      CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
        BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;

      CREATE TABLE confirmations (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        verdict_id   INTEGER NOT NULL UNIQUE REFERENCES verdicts(id),
        image_id     INTEGER NOT NULL REFERENCES images(id),
        confirmed_by TEXT NOT NULL CHECK (length(confirmed_by) > 0),
        created_at   TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER confirmations_no_update BEFORE UPDATE ON confirmations
        BEGIN SELECT RAISE(ABORT, 'confirmations are append-only'); END;
      CREATE TRIGGER confirmations_no_delete BEFORE DELETE ON confirmations
        BEGIN SELECT RAISE(ABORT, 'confirmations are append-only'); END;
    `);
  },
};

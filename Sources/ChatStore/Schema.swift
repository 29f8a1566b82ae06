import GRDB

/// The store's schema, as versioned migrations (GRDB records the applied ones
/// in `grdb_migrations`). A migration is never edited once released: a change
/// is a new one appended here.
enum Schema {
  /// `PRAGMA application_id` of a chat store ("Chat"): what tells our file
  /// from another program's SQLite database.
  static let applicationID: Int32 = 0x4368_6174

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      // No foreign keys: one writer transaction carries many callers'
      // operations, and a constraint failing would fail them all. The
      // registry keeps the references consistent; deletes say what goes.
      try db.execute(
        sql: """
          PRAGMA application_id = \(applicationID);
          CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
          CREATE TABLE accounts (
            name_key TEXT PRIMARY KEY, display TEXT NOT NULL,
            password_hash BLOB NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
          CREATE TABLE tokens (
            hash BLOB PRIMARY KEY, account TEXT NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
          CREATE INDEX tokens_by_account ON tokens (account);
          CREATE TABLE groups (
            key TEXT PRIMARY KEY, display TEXT NOT NULL, permanent INTEGER NOT NULL,
            created_seq INTEGER NOT NULL) WITHOUT ROWID;
          CREATE TABLE memberships (
            group_key TEXT NOT NULL, account TEXT NOT NULL, since INTEGER NOT NULL, until INTEGER,
            PRIMARY KEY (group_key, account, since)) WITHOUT ROWID;
          CREATE INDEX memberships_by_account ON memberships (account);
          CREATE TABLE log (
            seq INTEGER PRIMARY KEY, channel TEXT NOT NULL, kind INTEGER NOT NULL,
            time INTEGER NOT NULL, payload BLOB NOT NULL);
          CREATE INDEX log_by_channel ON log (channel, seq);
          CREATE TABLE positions (account TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
          """)
      try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('epoch', ?)", arguments: [makeEpoch()])
    }
    migrator.registerMigration("v2") { db in
      // Each channel's messages by seq: where retention starts a channel, for
      // History pages read from the store (a partial index: messages only).
      try db.execute(sql: "CREATE INDEX log_messages ON log (channel, seq) WHERE kind = 1")
    }
    migrator.registerMigration("v3") { db in
      // The log moved to the message log's segment files (SQLiteStore moves
      // the rows of older stores there when it opens them): its table only
      // ever empties now, and needs no indexes.
      try db.execute(sql: "DROP INDEX log_messages; DROP INDEX log_by_channel")
    }
    return migrator
  }
}

import Foundation

/// Every way the store fails, with the sentence that explains it.
///
/// Two families: refusals at startup (the server stops with `message`; the
/// files are left as they are) and `unavailable`, a write that did not commit
/// (the front end answers UNAVAILABLE with `message`).
public enum StoreError: Error, Equatable, Sendable {
  /// The data directory could not be created or opened.
  case dataDirectory(path: String, reason: String)
  /// Another process (or another store in this one) holds the directory.
  case locked(path: String, holder: String)
  /// The database file is not an SQLite database.
  case notADatabase(path: String)
  /// An SQLite database, but not a chat store.
  case foreign(path: String, detail: String)
  /// A chat store written by a newer server, with migrations this one does not know.
  case newerSchema(path: String, unknown: [String])
  /// SQLite reported the file as damaged, or could not read it.
  case corrupt(path: String, detail: String)
  /// A write did not commit (disk full, read-only, I/O error): nothing in it
  /// was acknowledged, and writes keep failing until one succeeds.
  case unavailable(String)
  /// The store was closed before the operations were committed.
  case closed
  /// An acknowledgement was not completed in time.
  case timedOut(Duration)

  public var message: String {
    switch self {
    case .dataDirectory(let path, let reason):
      "cannot use data directory \(path): \(reason)."
    case .locked(let path, let holder):
      "data directory \(path) is in use by another chat server (\(holder)): stop it, or start this one with another --data-dir."
    case .notADatabase(let path):
      "\(path) is not an SQLite database; it was left untouched: move it away or choose another --data-dir."
    case .foreign(let path, let detail):
      "\(path) is not a chat store (\(detail)); it was left untouched: move it away or choose another --data-dir."
    case .newerSchema(let path, let unknown):
      "\(path) was written by a newer chat server (unknown migrations: \(unknown.joined(separator: ", "))); it was left untouched: run that version or a newer one."
    case .corrupt(let path, let detail):
      "\(path) is damaged (\(detail)); it was left untouched: restore it from a backup or move it away."
    case .unavailable(let reason):
      "the message store cannot be written (\(reason)); nothing was saved, try again later."
    case .closed:
      "the message store is closed: the server is shutting down."
    case .timedOut(let duration):
      "the message store did not confirm the write within \(duration)."
    }
  }
}

extension StoreError: CustomStringConvertible {
  public var description: String { message }
}

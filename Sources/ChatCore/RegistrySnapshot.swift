import Foundation

/// A consistent copy of the registry, for the console and for tests.
public struct RegistrySnapshot: Sendable {
  public struct User: Sendable {
    public let name: String
    /// An account (else a guest).
    public let account: Bool
    public let sessions: [SessionTag]
    /// When its oldest open session connected.
    public let connectedAt: Date
    public let groups: [String]
  }

  public struct Group: Sendable {
    public let name: String
    public let members: [String]
  }

  public let users: [User]
  public let groups: [Group]
}

/// The registry's figures, read in constant time.
public struct RegistryCounts: Sendable {
  /// Connected users.
  public let users: Int
  /// Open sessions (Connect streams).
  public let sessions: Int
  public let groups: Int
  public let startedAt: Date
  /// SendMessage calls that returned OK.
  public let messagesAccepted: Int
  /// Events queued for sessions (each recipient counts once).
  public let eventsQueued: Int
  /// Sessions ended, by `SessionEnd.label`.
  public let sessionsEnded: [String: Int]
  /// Events written to Connect streams: queued events less those dropped
  /// with sessions that ended before taking them, and those still queued.
  public internal(set) var eventsWritten = 0
  /// Stream writes those events took (several events can share one).
  public internal(set) var batchesWritten = 0
}

/// One account, for the console's `accounts`.
public struct AccountSummary: Sendable {
  public let name: String
  /// Open sessions (0: offline).
  public let sessions: Int
  public let groups: [String]
  /// When its last session ended; nil while online.
  public let lastSeen: Date?
}

/// One open session, for the console's `sessions`.
public struct SessionSummary: Sendable {
  public let tag: SessionTag
  public let connectedAt: Date
  /// Events queued for it and not yet taken by its writer.
  public let queuedEvents: Int
}

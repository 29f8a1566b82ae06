import ChatStore
import Foundation
import Synchronization

/// Who a call acts for: one session of one user, as authentication found it.
///
/// Every registry call takes one, so the user is looked up once, by key, and
/// a call can never act for a newer session that took the same name after
/// this one ended: that is checked against `session`.
public struct Caller: Sendable, Hashable, CustomStringConvertible {
  /// The user as registered.
  public let user: ChatName
  /// The session's tag, unique for the registry's lifetime; nil for an
  /// account's calls other than Connect, which act for the account.
  public let session: SessionTag?
  /// For an account: the hash of the token the call carried (SignOut
  /// revokes it, and ends the sessions opened with it). Never logged.
  public let tokenHash: TokenHash?

  init(user: ChatName, session: SessionTag?, tokenHash: TokenHash? = nil) {
    self.user = user
    self.session = session
    self.tokenHash = tokenHash
  }

  /// The caller belongs to an account.
  public var isAccount: Bool { tokenHash != nil }

  public var description: String {
    if let session { return "\(user.display) (session \(session))" }
    return "\(user.display) (account)"
  }
}

/// The hash of an account's bearer token: what the registry and the store
/// keep. The token itself is never kept.
public struct TokenHash: Sendable, Hashable, CustomStringConvertible {
  public let bytes: [UInt8]

  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
  }

  /// Never the bytes: a hash of a credential stays out of logs too.
  public var description: String { "<token hash>" }
}

/// The highest seq written to one of an account's sessions: where its next
/// Connect catches up from. Advanced by the sessions' writers, outside the
/// registry's lock.
public final class AccountPosition: Sendable {
  private let value: Atomic<UInt64>

  init(_ seq: UInt64) {
    value = Atomic(seq)
  }

  public var seq: UInt64 { value.load(ordering: .relaxed) }

  /// Moves the position to `seq` if that is further.
  public func advance(to seq: UInt64) {
    var current = value.load(ordering: .relaxed)
    while seq > current {
      let (exchanged, original) = value.compareExchange(expected: current, desired: seq, ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }
}

/// A small number that tells sessions apart in logs and handles. Unlike the
/// session token it proves nothing, so it may be logged.
public struct SessionTag: Sendable, Hashable, Comparable, CustomStringConvertible {
  public let value: UInt64

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }
  public var description: String { "\(value)" }
}

/// One Connect stream of one user.
public final class Session: Sendable {
  public let caller: Caller
  /// 128 random bits as hex: the session's bearer credential with
  /// `--auth session`, told only to its client (in Welcome). Never logged.
  public let token: String
  public let queue: SessionQueue
  public let connectedAt: Date
  /// The log's last seq when the session opened: a guest reads direct
  /// messages after it only.
  let startSeq: UInt64
  /// The account's position, which this session's writes advance; nil for a guest.
  public let accountPosition: AccountPosition?

  init(
    user: ChatName, tag: SessionTag, queueLimit: Int, startSeq: UInt64, tokenHash: TokenHash? = nil,
    accountPosition: AccountPosition? = nil
  ) {
    self.caller = Caller(user: user, session: tag, tokenHash: tokenHash)
    self.token = randomHex128()
    self.queue = SessionQueue(limitBytes: queueLimit)
    self.connectedAt = Date()
    self.startSeq = startSeq
    self.accountPosition = accountPosition
  }

  public var user: ChatName { caller.user }
  public var tag: SessionTag { caller.session! }
}

/// What ending one session did.
public struct SessionEnded: Sendable {
  public let user: String
  /// nil for what ending a user (not one session) did.
  public let session: SessionTag?
  public let end: SessionEnd
  /// The groups the user left with it (a user leaves them with its last session).
  public let groupsLeft: [String]
  /// Those of them that it left empty, and were deleted.
  public let groupsDeleted: [String]
}

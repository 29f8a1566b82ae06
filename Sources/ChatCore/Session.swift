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
  /// The session's tag, unique for the registry's lifetime.
  public let session: SessionTag

  public var description: String { "\(user.display) (session \(session))" }
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

  init(user: ChatName, tag: SessionTag, queueLimit: Int) {
    self.caller = Caller(user: user, session: tag)
    self.token = Self.newToken()
    self.queue = SessionQueue(limitBytes: queueLimit)
    self.connectedAt = Date()
  }

  public var user: ChatName { caller.user }
  public var tag: SessionTag { caller.session }

  /// 128 random bits, as hex.
  static func newToken() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<2).map { _ in
      let hex = String(generator.next() as UInt64, radix: 16)
      return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined()
  }
}

/// What ending one session did.
public struct SessionEnded: Sendable {
  public let user: String
  public let session: SessionTag
  public let end: SessionEnd
  /// The groups the user left with it (a user leaves them with its last session).
  public let groupsLeft: [String]
  /// Those of them that it left empty, and were deleted.
  public let groupsDeleted: [String]
}

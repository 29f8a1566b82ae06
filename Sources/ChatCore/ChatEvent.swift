import Foundation

/// Something a session is told, in the registry's own terms: no wire type.
/// Each front end encodes it in its own format (see `SharedEvent`).
public struct ChatEvent: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    /// The first event of every session.
    case welcome(username: String, sessionToken: String)
    case message(ChatMessage)
    case memberJoined(group: String, user: String)
    case memberLeft(group: String, user: String, reason: LeaveReason)
    /// Text from the server's operator.
    case notice(text: String)
  }

  public let time: Date
  public let kind: Kind

  public init(_ kind: Kind, at time: Date) {
    self.kind = kind
    self.time = time
  }
}

/// A message as its audience receives it.
public struct ChatMessage: Sendable, Equatable {
  /// Increases in the order the registry accepted messages.
  public let id: UInt64
  public let sender: String
  /// Where it was sent: the recipient user, or the group.
  public let channel: Channel
  public let text: String
}

/// A user or a group, by its registered name.
public struct Channel: Sendable, Hashable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case user
    case group
  }

  public let kind: Kind
  public let name: String

  public init(_ kind: Kind, _ name: String) {
    self.kind = kind
    self.name = name
  }

  public var description: String { (kind == .user ? "@" : "#") + name }
}

/// Why a member left a group.
public enum LeaveReason: Sendable, Equatable {
  /// LeaveGroupChat.
  case left
  /// The member's session ended (the client went away, was too slow, or the server stopped).
  case disconnected
  /// The operator kicked the member.
  case kicked
}

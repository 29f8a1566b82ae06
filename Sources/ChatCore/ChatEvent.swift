import Foundation

/// Something a session is told, in the registry's own terms: no wire type.
/// Each front end encodes it in its own format (see `SharedEvent`).
public struct ChatEvent: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    /// The first event of every session.
    case welcome(Welcome)
    case message(ChatMessage)
    case memberJoined(group: String, user: String)
    case memberLeft(group: String, user: String, reason: LeaveReason)
    /// Text from the server's operator.
    case notice(text: String)
    /// An account that shares a group with the session came online or went
    /// offline (not logged).
    case presence(user: String, online: Bool)
  }

  public let time: Date
  public let kind: Kind
  /// The event's position in the log; 0 for events that are not logged
  /// (Welcome, Notice, PresenceChanged).
  public let seq: UInt64

  public init(_ kind: Kind, at time: Date, seq: UInt64 = 0) {
    self.kind = kind
    self.time = time
    self.seq = seq
  }
}

/// What a session is told first.
public struct Welcome: Sendable, Equatable {
  public var username: String
  /// The session's bearer credential in `--auth session` mode. Never logged.
  public var sessionToken: String
  /// Where the stream continues from: live events have larger `seq`s.
  public var position: LogPosition
  /// Every logged event the session missed since the position it resumed
  /// from follows, before live events.
  public var recovered = false
  /// How many events follow before live ones.
  public var replayed = 0
  /// The session belongs to an account.
  public var account = false

  public init(username: String, sessionToken: String, position: LogPosition) {
    self.username = username
    self.sessionToken = sessionToken
    self.position = position
  }
}

/// A position in the log: `epoch` names the log, `seq` an event in it.
public struct LogPosition: Sendable, Equatable, CustomStringConvertible {
  public var epoch: String
  public var seq: UInt64

  public init(epoch: String, seq: UInt64) {
    self.epoch = epoch
    self.seq = seq
  }

  public var description: String { "\(epoch)/\(seq)" }
}

/// A message as its audience receives it.
public struct ChatMessage: Sendable, Equatable {
  /// Increases in the order the registry accepted messages.
  public let id: UInt64
  public let sender: String
  /// Where it was sent: the recipient user, or the group.
  public let channel: Channel
  public let text: String

  public init(id: UInt64, sender: String, channel: Channel, text: String) {
    self.id = id
    self.sender = sender
    self.channel = channel
    self.text = text
  }
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

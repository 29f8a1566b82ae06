import ChatAPI
import ChatCore
import Foundation
import GRPCCore
import SwiftProtobuf

/// `chat.v1.Event` in protobuf: how gRPC sessions receive events.
public enum ProtobufEventEncoding: StoredEventEncoding {
  public static func encode(_ event: ChatEvent) -> [UInt8] {
    // A proto3 message with no `Any` or required fields always serializes.
    EventProtobufWriter.encode(event) ?? (try! Chat_V1_Event(event).serializedBytes())
  }

  public static func decode(_ bytes: [UInt8]) -> ChatEvent? {
    guard let event = try? Chat_V1_Event(serializedBytes: bytes) else { return nil }
    return ChatEvent(event)
  }
}

extension ChatEvent {
  /// A logged event read back (Message, MemberJoined, MemberLeft); nil for anything else.
  init?(_ event: Chat_V1_Event) {
    let kind: Kind
    switch event.kind {
    case .message(let message):
      guard let channel = Channel(message.channel) else { return nil }
      kind = .message(ChatMessage(id: message.id, sender: message.sender, channel: channel, text: message.text))
    case .memberJoined(let joined):
      kind = .memberJoined(group: joined.group, user: joined.username)
    case .memberLeft(let left):
      let reason: LeaveReason
      switch left.reason {
      case .left: reason = .left
      case .kicked: reason = .kicked
      default: reason = .disconnected
      }
      kind = .memberLeft(group: left.group, user: left.username, reason: reason)
    default:
      return nil
    }
    self.init(kind, at: event.time.date, seq: event.seq)
  }
}

extension Channel {
  init?(_ channel: Chat_V1_Channel) {
    switch channel.type {
    case .user: self.init(.user, channel.name)
    case .group: self.init(.group, channel.name)
    default: return nil
    }
  }
}

extension Chat_V1_Event {
  init(_ event: ChatEvent) {
    self.init()
    time = Google_Protobuf_Timestamp(date: event.time)
    seq = event.seq
    switch event.kind {
    case .welcome(let welcome):
      self.welcome = .with {
        $0.username = welcome.username
        $0.sessionID = welcome.sessionToken
        $0.position = .with {
          $0.epoch = welcome.position.epoch
          $0.seq = welcome.position.seq
        }
        $0.recovered = welcome.recovered
        $0.replayed = UInt32(clamping: welcome.replayed)
        $0.account = welcome.account
      }
    case .message(let message):
      self.message = .with {
        $0.id = message.id
        $0.sender = message.sender
        $0.channel = Chat_V1_Channel(message.channel)
        $0.text = message.text
      }
    case .memberJoined(let group, let user):
      memberJoined = .with {
        $0.group = group
        $0.username = user
      }
    case .memberLeft(let group, let user, let reason):
      memberLeft = .with {
        $0.group = group
        $0.username = user
        $0.reason =
          switch reason {
          case .left: .left
          case .disconnected: .disconnected
          case .kicked: .kicked
          }
      }
    case .notice(let text):
      notice = .with { $0.text = text }
    case .presence(let user, let online):
      presence = .with {
        $0.username = user
        $0.online = online
      }
    }
  }
}

extension Chat_V1_Channel {
  init(_ channel: Channel) {
    self.init()
    name = channel.name
    type = channel.kind == .user ? .user : .group
  }

  /// The channel kind a request names; INVALID_ARGUMENT if it names none.
  func kind() throws(ChatError) -> Channel.Kind {
    switch type {
    case .user: .user
    case .group: .group
    case .unspecified: throw .invalidChannelType("CHANNEL_TYPE_UNSPECIFIED")
    case .UNRECOGNIZED(let value): throw .invalidChannelType("\(value)")
    }
  }
}

/// Writes a shared event as the Connect stream's message, in its protobuf
/// encoding, which every recipient shares.
struct SharedEventSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ event: SharedEvent) throws -> Bytes {
    Bytes(event.encoded(as: ProtobufEventEncoding.self))
  }
}

extension Chat_V1_Member {
  init(_ member: MemberSummary) {
    self.init()
    username = member.name.display
    online = member.online
    account = member.account
    if let lastSeen = member.lastSeen { self.lastSeen = Google_Protobuf_Timestamp(date: lastSeen) }
  }
}

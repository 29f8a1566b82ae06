import ChatAPI
import ChatCore
import Foundation
import GRPCCore
import SwiftProtobuf

/// `chat.v1.Event` in protobuf: how gRPC sessions receive events.
public enum ProtobufEventEncoding: EventEncoding {
  public static func encode(_ event: ChatEvent) -> [UInt8] {
    // A proto3 message with no `Any` or required fields always serializes.
    try! Chat_V1_Event(event).serializedBytes()
  }
}

extension Chat_V1_Event {
  init(_ event: ChatEvent) {
    self.init()
    time = Google_Protobuf_Timestamp(date: event.time)
    switch event.kind {
    case .welcome(let username, let token):
      welcome = .with {
        $0.username = username
        $0.sessionID = token
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

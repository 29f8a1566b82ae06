import ChatAPI
import Foundation
import GRPCCore
import SwiftProtobuf

/// An `Event` serialized once, when the registry creates it, and shared by
/// every session it goes to (arrays are copy-on-write: recipients share one
/// buffer).
public struct EncodedEvent: Sendable {
  public let bytes: [UInt8]

  init(_ kind: Chat_V1_Event.OneOf_Kind, at time: Date) {
    var event = Chat_V1_Event()
    event.time = Google_Protobuf_Timestamp(date: time)
    event.kind = kind
    // A proto3 message with no `Any` or required fields always serializes.
    self.bytes = try! event.serializedBytes()
  }

  /// Decodes the event again (tests and diagnostics only).
  public func decoded() throws -> Chat_V1_Event {
    try Chat_V1_Event(serializedBytes: bytes)
  }
}

/// Writes an already-encoded event as the Connect stream's message.
struct EncodedEventSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ event: EncodedEvent) throws -> Bytes {
    Bytes(event.bytes)
  }
}

extension Chat_V1_Channel {
  init(_ name: String, _ type: Chat_V1_ChannelType) {
    self.init()
    self.name = name
    self.type = type
  }
}

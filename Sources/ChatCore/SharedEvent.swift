import Foundation
import Synchronization

/// How a front end writes events on its wire (protobuf for gRPC; JSON for a
/// browser gateway).
public protocol EventEncoding {
  static func encode(_ event: ChatEvent) -> [UInt8]
}

/// The encoding the store keeps logged events in: it must also decode them
/// (at startup, to rebuild the in-memory log).
public protocol StoredEventEncoding: EventEncoding {
  static func decode(_ bytes: [UInt8]) -> ChatEvent?
}

/// One event and its encodings, shared by every session it goes to.
///
/// The registry creates it under its lock without encoding it; the first
/// session's writer to need a format encodes it, outside any registry lock,
/// and every other recipient reuses those bytes: an event is encoded once
/// per wire format, not once per recipient.
public final class SharedEvent: Sendable {
  public let event: ChatEvent
  /// What the event costs a session's queue, known without encoding it (a
  /// close upper estimate of its protobuf size).
  public let queuedBytes: Int
  private let encodings = Mutex<[(format: ObjectIdentifier, bytes: [UInt8])]>([])

  public init(_ event: ChatEvent) {
    self.event = event
    self.queuedBytes = Self.estimatedBytes(event.kind)
  }

  public convenience init(_ kind: ChatEvent.Kind, at time: Date = Date(), seq: UInt64 = 0) {
    self.init(ChatEvent(kind, at: time, seq: seq))
  }

  /// An event read back from the store, with the bytes it was stored as.
  init<Format: EventEncoding>(_ event: ChatEvent, encoded bytes: [UInt8], as format: Format.Type) {
    self.event = event
    self.queuedBytes = Self.estimatedBytes(event.kind)
    encodings.withLock { $0.append((ObjectIdentifier(format), bytes)) }
  }

  public var seq: UInt64 { event.seq }

  /// The event in `format`, encoded on first use.
  public func encoded<Format: EventEncoding>(as format: Format.Type) -> [UInt8] {
    let id = ObjectIdentifier(format)
    if let cached = encodings.withLock({ $0.first { $0.format == id }?.bytes }) { return cached }
    // Encoded outside the lock; two writers racing to be first both encode,
    // and both use the bytes stored first.
    let bytes = Format.encode(event)
    return encodings.withLock { encodings in
      if let cached = encodings.first(where: { $0.format == id }) { return cached.bytes }
      encodings.append((id, bytes))
      return bytes
    }
  }

  private static func estimatedBytes(_ kind: ChatEvent.Kind) -> Int {
    // Field tags, lengths and the timestamp: at most this many bytes.
    let overhead = 42
    return switch kind {
    case .welcome(let welcome):
      overhead + 24 + welcome.username.utf8.count + welcome.sessionToken.utf8.count + welcome.position.epoch.utf8.count
    case .message(let message):
      overhead + 10 + message.sender.utf8.count + message.channel.name.utf8.count + message.text.utf8.count
    case .memberJoined(let group, let user), .memberLeft(let group, let user, _):
      overhead + group.utf8.count + user.utf8.count
    case .notice(let text): overhead + text.utf8.count
    case .presence(let user, _): overhead + 2 + user.utf8.count
    }
  }
}

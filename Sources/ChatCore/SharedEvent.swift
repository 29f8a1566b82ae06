import Foundation
import Synchronization

/// How a front end writes events on its wire (protobuf for gRPC; JSON for a
/// browser gateway).
public protocol EventEncoding: SendableMetatype {
  static func encode(_ event: ChatEvent) -> [UInt8]
}

/// The encoding the store keeps logged events in: it must also decode them
/// (events read back from the store, when History or a replay reaches them).
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
  public let seq: UInt64
  /// What the event costs a session's queue, known without encoding it (a
  /// close upper estimate of its protobuf size; a stored event's exact size).
  public let queuedBytes: Int
  /// A Message (not a member event, Welcome or Notice): what retention counts.
  let isMessage: Bool
  /// The event; nil for an event read back from the store until something
  /// asks for it (`event`), which decodes it from its stored bytes once.
  private let decoded: Mutex<ChatEvent?>
  /// Decodes the stored bytes (events read back from the store only).
  private let decode: (@Sendable ([UInt8]) -> ChatEvent?)?
  private let encodings = Mutex<[(format: ObjectIdentifier, bytes: [UInt8])]>([])

  public init(_ event: ChatEvent) {
    self.seq = event.seq
    self.queuedBytes = Self.estimatedBytes(event.kind)
    if case .message = event.kind { isMessage = true } else { isMessage = false }
    self.decoded = Mutex(event)
    self.decode = nil
  }

  public convenience init(_ kind: ChatEvent.Kind, at time: Date = Date(), seq: UInt64 = 0) {
    self.init(ChatEvent(kind, at: time, seq: seq))
  }

  /// An event read back from the store, kept as the bytes it was stored as
  /// and decoded only when something reads `event` (History, or a writer of
  /// another format): most retained events are never asked for.
  init<Format: StoredEventEncoding>(seq: UInt64, isMessage: Bool, stored bytes: [UInt8], as format: Format.Type) {
    self.seq = seq
    self.queuedBytes = bytes.count
    self.isMessage = isMessage
    self.decoded = Mutex(nil)
    self.decode = { Format.decode($0) }
    encodings.withLock { $0.append((ObjectIdentifier(format), bytes)) }
  }

  /// The event (decoded from its stored bytes on first use, outside any
  /// registry lock: by History's handler or a session's writer).
  public var event: ChatEvent {
    if let event = decoded.withLock({ $0 }) { return event }
    // Only a stored event starts without its ChatEvent; its bytes are its first encoding.
    let bytes = encodings.withLock { $0[0].bytes }
    // Decoded outside the lock; two readers racing both decode the same bytes.
    let event =
      decode?(bytes)
      ?? ChatEvent(.notice(text: "(an event the store could not decode)"), at: Date(timeIntervalSince1970: 0), seq: seq)
    return decoded.withLock { decoded in
      if let first = decoded { return first }
      decoded = event
      return event
    }
  }

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

import ChatAPI
import ChatCore
import SwiftProtobuf

/// Writes the events every delivery and every logged record carries
/// (Message, MemberJoined, MemberLeft, Notice, PresenceChanged) as
/// `chat.v1.Event` in protobuf, byte for byte what SwiftProtobuf writes,
/// without building the generated messages first.
///
/// Why by hand: SwiftProtobuf builds a heap-backed message per level and walks
/// it twice through its generic visitor (once for sizes, once for bytes). On
/// the SQLite store each SendMessage encodes its event on the sending
/// handler's thread, where that came to about 3.8 µs of the 3 µs the store may
/// add (BENCHMARKS.md). Sizes here are arithmetic and the bytes one pass of
/// appends. Decoding stays SwiftProtobuf's; a test checks the bytes against
/// SwiftProtobuf's for random events.
enum EventProtobufWriter {
  /// The event's bytes, or nil for the kinds left to SwiftProtobuf (Welcome:
  /// once per session).
  static func encode(_ event: ChatEvent) -> [UInt8]? {
    if case .welcome = event.kind { return nil }
    let time = Google_Protobuf_Timestamp(date: event.time)
    let timeSize = Self.size(int64: time.seconds, field: 1) + Self.size(int64: Int64(time.nanos), field: 2)
    let kindField: UInt64
    let kindSize: Int
    // A Message's Channel, the one nested message below the kind.
    var channelSize = 0
    switch event.kind {
    case .welcome:
      return nil
    case .message(let message):
      kindField = 3
      channelSize =
        size(string: message.channel.name, field: 1) + size(enum: message.channel.kind.wireValue, field: 2)
      kindSize =
        size(uint64: message.id, field: 1) + size(string: message.sender, field: 2)
        + size(messageOf: channelSize) + size(string: message.text, field: 4)
    case .memberJoined(let group, let user):
      kindField = 4
      kindSize = size(string: group, field: 1) + size(string: user, field: 2)
    case .memberLeft(let group, let user, let reason):
      kindField = 5
      kindSize = size(string: group, field: 1) + size(string: user, field: 2) + size(enum: reason.wireValue, field: 3)
    case .notice(let text):
      kindField = 6
      kindSize = size(string: text, field: 1)
    case .presence(let user, let online):
      kindField = 7
      kindSize = size(string: user, field: 1) + (online ? 2 : 0)
    }
    let total = size(messageOf: timeSize) + size(messageOf: kindSize) + size(uint64: event.seq, field: 8)
    var out: [UInt8] = []
    out.reserveCapacity(total)
    // Fields in number order, as SwiftProtobuf writes them; proto3 leaves
    // out scalars at their defaults but keeps a set message field, even empty.
    out.appendTag(1, wireType: 2)
    out.appendVarint(UInt64(timeSize))
    out.append(int64: time.seconds, field: 1)
    out.append(int64: Int64(time.nanos), field: 2)
    out.appendTag(kindField, wireType: 2)
    out.appendVarint(UInt64(kindSize))
    switch event.kind {
    case .welcome:
      break
    case .message(let message):
      out.append(uint64: message.id, field: 1)
      out.append(string: message.sender, field: 2)
      out.appendTag(3, wireType: 2)
      out.appendVarint(UInt64(channelSize))
      out.append(string: message.channel.name, field: 1)
      out.append(enum: message.channel.kind.wireValue, field: 2)
      out.append(string: message.text, field: 4)
    case .memberJoined(let group, let user):
      out.append(string: group, field: 1)
      out.append(string: user, field: 2)
    case .memberLeft(let group, let user, let reason):
      out.append(string: group, field: 1)
      out.append(string: user, field: 2)
      out.append(enum: reason.wireValue, field: 3)
    case .notice(let text):
      out.append(string: text, field: 1)
    case .presence(let user, let online):
      out.append(string: user, field: 1)
      if online {
        out.appendTag(2, wireType: 0)
        out.append(1)
      }
    }
    out.append(uint64: event.seq, field: 8)
    assert(out.count == total, "the size pass and the write pass disagree")
    return out
  }

  // Sizes of fields as proto3 writes them (0 for a scalar at its default).

  private static func size(varint value: UInt64) -> Int {
    // 7 bits a byte; 0 still takes one.
    (64 - (value | 1).leadingZeroBitCount + 6) / 7
  }

  private static func size(tag field: UInt64) -> Int { size(varint: field << 3) }

  private static func size(uint64 value: UInt64, field: UInt64) -> Int {
    value == 0 ? 0 : size(tag: field) + size(varint: value)
  }

  /// int64 and int32 alike: a negative value is its 64-bit two's complement.
  private static func size(int64 value: Int64, field: UInt64) -> Int {
    size(uint64: UInt64(bitPattern: value), field: field)
  }

  private static func size(enum value: Int, field: UInt64) -> Int {
    size(int64: Int64(value), field: field)
  }

  private static func size(string: String, field: UInt64) -> Int {
    let count = string.utf8.count
    return count == 0 ? 0 : size(tag: field) + size(varint: UInt64(count)) + count
  }

  /// A set message field (every one here has a number below 16: a one-byte tag).
  private static func size(messageOf contents: Int) -> Int {
    1 + size(varint: UInt64(contents)) + contents
  }
}

extension [UInt8] {
  fileprivate mutating func appendVarint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    append(UInt8(value))
  }

  fileprivate mutating func appendTag(_ field: UInt64, wireType: UInt64) {
    appendVarint(field << 3 | wireType)
  }

  fileprivate mutating func append(uint64 value: UInt64, field: UInt64) {
    guard value != 0 else { return }
    appendTag(field, wireType: 0)
    appendVarint(value)
  }

  fileprivate mutating func append(int64 value: Int64, field: UInt64) {
    append(uint64: UInt64(bitPattern: value), field: field)
  }

  fileprivate mutating func append(enum value: Int, field: UInt64) {
    append(int64: Int64(value), field: field)
  }

  fileprivate mutating func append(string: String, field: UInt64) {
    var string = string
    string.withUTF8 { bytes in
      guard !bytes.isEmpty else { return }
      appendTag(field, wireType: 2)
      appendVarint(UInt64(bytes.count))
      append(contentsOf: bytes)
    }
  }
}

extension Channel.Kind {
  fileprivate var wireValue: Int {
    (self == .user ? Chat_V1_ChannelType.user : .group).rawValue
  }
}

extension LeaveReason {
  fileprivate var wireValue: Int {
    switch self {
    case .left: Chat_V1_LeaveReason.left.rawValue
    case .disconnected: Chat_V1_LeaveReason.disconnected.rawValue
    case .kicked: Chat_V1_LeaveReason.kicked.rawValue
    }
  }
}

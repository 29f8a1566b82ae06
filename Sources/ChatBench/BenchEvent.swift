import ChatAPI
import GRPCCore

/// The part of a chat.v1 `Event` the benchmark needs, read straight from its
/// wire bytes: no SwiftProtobuf decode and, for messages, no allocation, so
/// the receiving side of the benchmark stays cheap next to the server.
struct BenchEvent: Sendable {
  enum Kind: UInt8, Sendable {
    case welcome, message, memberJoined, memberLeft, notice, unknown
  }

  var kind: Kind = .unknown
  /// Message: the id the server gave it.
  var messageID: UInt64 = 0
  /// Message: the `BenchClock` time the leading digits of its text carry; 0 if none.
  var sentAt: UInt64 = 0
  /// MemberLeft: who left.
  var username: String?
}

/// The text of a benchmark message: its send time in `BenchClock`
/// nanoseconds, then a space and padding up to the requested size.
enum BenchText {
  static let longestPadding = String(repeating: "x", count: 4096)

  static func make(sentAt: UInt64, bytes: Int) -> String {
    let time = String(sentAt)
    let padding = bytes - time.utf8.count - 1
    return padding > 0 ? time + " " + longestPadding.prefix(padding) : time
  }
}

struct MalformedEvent: Error, CustomStringConvertible {
  let offset: Int
  var description: String { "malformed Event at byte \(offset)" }
}

/// Deserializes Connect's events as `BenchEvent`s (see `BenchEvent`).
struct BenchEventDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> BenchEvent {
    try serializedMessageBytes.withUnsafeBytes { try BenchEvent(wire: $0) }
  }
}

extension BenchEvent {
  /// Event fields: 1 time, 2 welcome, 3 message, 4 member_joined,
  /// 5 member_left, 6 notice. Message: 1 id, 2 sender, 3 channel, 4 text.
  /// MemberLeft: 1 group, 2 username, 3 reason.
  init(wire bytes: UnsafeRawBufferPointer) throws(MalformedEvent) {
    self.init()
    var reader = WireReader(bytes)
    while let (field, wireType) = try reader.nextField() {
      guard wireType == 2, (2...6).contains(field) else {
        try reader.skip(wireType)
        continue
      }
      var body = try reader.lengthDelimited()
      switch field {
      case 2: kind = .welcome
      case 3:
        kind = .message
        while let (field, wireType) = try body.nextField() {
          if field == 1 && wireType == 0 {
            messageID = try body.varint()
          } else if field == 4 && wireType == 2 {
            sentAt = Self.leadingNumber(try body.lengthDelimited().bytes)
          } else {
            try body.skip(wireType)
          }
        }
      case 4: kind = .memberJoined
      case 5:
        kind = .memberLeft
        while let (field, wireType) = try body.nextField() {
          if field == 2 && wireType == 2 {
            username = String(decoding: try body.lengthDelimited().bytes, as: UTF8.self)
          } else {
            try body.skip(wireType)
          }
        }
      default: kind = .notice
      }
    }
  }

  /// The decimal number at the start of `text`; 0 if there is none.
  static func leadingNumber(_ text: UnsafeRawBufferPointer) -> UInt64 {
    var value: UInt64 = 0
    for byte in text.prefix(19) {
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
      value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
    }
    return value
  }
}

/// Reads protobuf wire format: field keys, varints and length-delimited fields.
struct WireReader {
  private(set) var bytes: UnsafeRawBufferPointer
  private var offset = 0

  init(_ bytes: UnsafeRawBufferPointer) {
    self.bytes = bytes
  }

  /// The next field's number and wire type; nil at the end.
  mutating func nextField() throws(MalformedEvent) -> (Int, Int)? {
    guard offset < bytes.count else { return nil }
    let key = try varint()
    return (Int(truncatingIfNeeded: key >> 3), Int(key & 7))
  }

  mutating func varint() throws(MalformedEvent) -> UInt64 {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while offset < bytes.count, shift < 64 {
      let byte = bytes[offset]
      offset += 1
      value |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return value }
      shift += 7
    }
    throw MalformedEvent(offset: offset)
  }

  /// A length-delimited field's contents, as a reader of its own.
  mutating func lengthDelimited() throws(MalformedEvent) -> WireReader {
    let length = try varint()
    guard length <= UInt64(bytes.count - offset) else { throw MalformedEvent(offset: offset) }
    let start = offset
    offset += Int(length)
    return WireReader(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
  }

  mutating func skip(_ wireType: Int) throws(MalformedEvent) {
    switch wireType {
    case 0: _ = try varint()
    case 1: try advance(8)
    case 2: _ = try lengthDelimited()
    case 5: try advance(4)
    default: throw MalformedEvent(offset: offset)
    }
  }

  private mutating func advance(_ count: Int) throws(MalformedEvent) {
    guard count <= bytes.count - offset else { throw MalformedEvent(offset: offset) }
    offset += count
  }
}

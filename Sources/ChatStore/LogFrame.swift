import CZlib
import Foundation

/// The message log's on-disk format.
///
/// A segment file starts with `magic` and the store's epoch (32 ASCII hex
/// digits), then holds frames back to back. A frame is a little-endian
/// `u32` body length, the body's `u32` CRC-32, and the body: `u64` seq,
/// `u8` kind, `i64` time (microseconds since 1970), `u16` channel length,
/// the channel's UTF-8 bytes, then the payload (the rest).
///
/// A tombstone frame (kind `tombstoneKind`, empty payload) deletes its
/// channel's records with a seq at or below its own, wherever they lie:
/// the rule does not depend on the order of frames, so compaction may move
/// frames between segments freely.
enum LogFrame {
  static let magic = Array("CHATLOG1".utf8)
  static let epochLength = 32
  static var segmentHeaderSize: Int { magic.count + epochLength }
  /// Length and CRC.
  static let prefixSize = 8
  /// seq, kind, time, channel length.
  static let fixedBodySize = 19
  static let tombstoneKind: UInt8 = 0x7F
  /// A frame's largest body: a payload is at most the registry's message
  /// size, far below this; a larger length is damage, not data.
  static let maxBodySize = 64 << 20

  /// The segment header for `epoch`.
  static func segmentHeader(epoch: String) -> [UInt8] {
    magic + Array(epoch.utf8.prefix(epochLength))
  }

  /// Appends one frame to `buffer`; returns its length (prefix included).
  @discardableResult
  static func append(
    seq: UInt64, kind: UInt8, time: Int64, channel: String, payload: [UInt8], to buffer: inout [UInt8]
  ) -> Int {
    var channel = channel
    return channel.withUTF8 { channelBytes in
      payload.withUnsafeBytes { payloadBytes in
        append(seq: seq, kind: kind, time: time, channel: UnsafeRawBufferPointer(channelBytes), payload: payloadBytes, to: &buffer)
      }
    }
  }

  static func append(
    seq: UInt64, kind: UInt8, time: Int64, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
    to buffer: inout [UInt8]
  ) -> Int {
    let length = frameLength(channelBytes: channel.count, payloadBytes: payload.count)
    let start = buffer.count
    buffer.append(contentsOf: repeatElement(0, count: length))
    buffer.withUnsafeMutableBytes { bytes in
      _ = write(seq: seq, kind: kind, time: time, channel: channel, payload: payload, at: bytes.baseAddress! + start)
    }
    return length
  }

  /// The length of a frame (prefix included) with a channel and payload of these sizes.
  static func frameLength(channelBytes: Int, payloadBytes: Int) -> Int {
    prefixSize + fixedBodySize + min(channelBytes, Int(UInt16.max)) + payloadBytes
  }

  /// Writes one frame at `frame` (`frameLength` bytes, written in place: the
  /// message log lays frames straight into its segment's mapping); returns
  /// its length.
  static func write(
    seq: UInt64, kind: UInt8, time: Int64, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
    at frame: UnsafeMutableRawPointer
  ) -> Int {
    let channelLength = min(channel.count, Int(UInt16.max))
    let bodyLength = fixedBodySize + channelLength + payload.count
    let body = frame + prefixSize
    frame.storeBytes(of: UInt32(bodyLength).littleEndian, as: UInt32.self)
    body.storeBytes(of: seq.littleEndian, as: UInt64.self)
    body.storeBytes(of: kind, toByteOffset: 8, as: UInt8.self)
    body.storeBytes(of: UInt64(bitPattern: time).littleEndian, toByteOffset: 9, as: UInt64.self)
    body.storeBytes(of: UInt16(channelLength).littleEndian, toByteOffset: 17, as: UInt16.self)
    if channelLength > 0 { (body + fixedBodySize).copyMemory(from: channel.baseAddress!, byteCount: channelLength) }
    if let source = payload.baseAddress, payload.count > 0 {
      (body + fixedBodySize + channelLength).copyMemory(from: source, byteCount: payload.count)
    }
    let crc = checksum(UnsafeRawBufferPointer(start: body, count: bodyLength))
    frame.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
    return prefixSize + bodyLength
  }

  static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
    return UInt32(truncatingIfNeeded: crc32(0, base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
  }

  /// One frame read back: where its parts are within the bytes it was parsed from.
  struct Parsed {
    var seq: UInt64
    var kind: UInt8
    var time: Int64
    var channel: Range<Int>
    var payload: Range<Int>
    /// The whole frame, prefix included.
    var frame: Range<Int>
  }

  enum ParseResult {
    case frame(Parsed)
    /// Nothing more: the bytes end exactly here.
    case end
    /// A frame that is cut short or fails its checksum at this offset.
    case damaged(String)
  }

  /// Parses the frame at `offset` of `bytes`.
  static func parse(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ParseResult {
    if offset == bytes.count { return .end }
    guard bytes.count - offset >= prefixSize else {
      return bytes[offset...].allSatisfy { $0 == 0 } ? .end : .damaged("a record's header is cut short")
    }
    let bodyLength = Int(load(UInt32.self, bytes, offset))
    let crc = load(UInt32.self, bytes, offset + 4)
    // Zeros: the allocated, never written part of the segment being appended to.
    if bodyLength == 0 && crc == 0 { return .end }
    guard bodyLength >= fixedBodySize, bodyLength <= maxBodySize else {
      return .damaged("a record's length (\(bodyLength)) is impossible")
    }
    let bodyStart = offset + prefixSize
    guard bytes.count - bodyStart >= bodyLength else { return .damaged("a record is cut short") }
    let body = UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<(bodyStart + bodyLength)])
    guard checksum(body) == crc else { return .damaged("a record fails its checksum") }
    let channelLength = Int(load(UInt16.self, bytes, bodyStart + 17))
    guard fixedBodySize + channelLength <= bodyLength else { return .damaged("a record's channel overruns it") }
    let channelStart = bodyStart + fixedBodySize
    return .frame(
      Parsed(
        seq: load(UInt64.self, bytes, bodyStart),
        kind: bytes[bodyStart + 8],
        time: Int64(bitPattern: load(UInt64.self, bytes, bodyStart + 9)),
        channel: channelStart..<(channelStart + channelLength),
        payload: (channelStart + channelLength)..<(bodyStart + bodyLength),
        frame: offset..<(bodyStart + bodyLength)))
  }

  private static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
    T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
  }

  /// The record a parsed frame holds (not for tombstones).
  static func record(_ parsed: Parsed, channel: String, in bytes: UnsafeRawBufferPointer) -> LogRecord {
    LogRecord(
      seq: parsed.seq, channel: channel, kind: LogRecord.Kind(rawValue: Int64(parsed.kind)) ?? .message,
      time: date(parsed.time), payloadBytes: Array(bytes[parsed.payload]))
  }
}

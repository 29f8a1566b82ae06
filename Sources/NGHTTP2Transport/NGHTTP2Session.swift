import CNGHTTP2
import NIOCore

/// One server-side `nghttp2_session` and every pointer that goes with it.
///
/// Confined to its connection's event loop. nghttp2's callbacks run inside
/// `receive(_:)` and `send(into:)`; they only record what happened (`events`)
/// or copy queued response bytes out (`outbound`), never call into the
/// application or take a lock. The connection handler acts on the events
/// after the call returns.
final class NGHTTP2Session {
  /// What the peer did, in order, as recorded by the callbacks.
  enum Event {
    case request(streamID: Int32, headers: [(name: String, value: String)], endStream: Bool)
    case data(streamID: Int32, bytes: [UInt8])
    case endStream(streamID: Int32)
    case closed(streamID: Int32, errorCode: UInt32)
    case ping(opaque: UInt64)
    case pingAck(opaque: UInt64)
    case resetByPeer(streamID: Int32, errorCode: UInt32)
    case goAway(errorCode: UInt32)
    case invalidFrame(streamID: Int32, error: Int32)
    /// A request whose header list (RFC 9113 sizes: name + value + 32 per
    /// field) passed the limit; its headers were decoded and dropped.
    case headersTooLarge(streamID: Int32, bytes: Int, endStream: Bool)
    /// A HEADERS or DATA frame with END_STREAM went out on this stream.
    case sentEndStream(streamID: Int32)
  }

  /// A stream's response bytes nghttp2 has not taken yet, and its trailers.
  final class Outbound {
    var buffer: ByteBuffer
    /// Sent once `buffer` is empty (the read callback submits them).
    var trailers: [(String, String)]?
    /// Bytes nghttp2 took since the last `takeConsumed()`.
    var consumed = 0
    var trailersSubmitted = false

    init(buffer: ByteBuffer) {
      self.buffer = buffer
    }
  }

  private(set) var session: OpaquePointer?
  private struct PendingHeaders {
    var headers: [(name: String, value: String)] = []
    var bytes = 0
    var tooLarge = false
  }
  private var pendingHeaders: [Int32: PendingHeaders] = [:]
  var events: [Event] = []
  var outbound: [Int32: Outbound] = [:]
  /// Set when HEADERS or DATA went out: the ping-strike policy forgives pings then.
  var sentHeadersOrData = false
  let maxHeaderListSize: Int
  let allocator: ByteBufferAllocator

  struct Settings {
    var maxConcurrentStreams: UInt32
    var initialWindowSize: UInt32
    var maxHeaderListSize: UInt32
    /// Resets per second a peer may send past `resetBurst` (rapid reset, CVE-2023-44487).
    var resetBurst: UInt64
    var resetRate: UInt64
  }

  init(settings: Settings, allocator: ByteBufferAllocator) throws(NGHTTP2Error) {
    self.maxHeaderListSize = Int(settings.maxHeaderListSize)
    self.allocator = allocator
    var callbacks: OpaquePointer?
    guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { throw NGHTTP2Error(code: -901) }
    defer { nghttp2_session_callbacks_del(callbacks) }
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, onInvalidFrameRecv)
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)

    var option: OpaquePointer?
    guard nghttp2_option_new(&option) == 0, let option else { throw NGHTTP2Error(code: -901) }
    defer { nghttp2_option_del(option) }
    // Pings are acknowledged by the connection, after the strike policy saw them.
    nghttp2_option_set_no_auto_ping_ack(option, 1)
    // The connection's own bucket (an ENHANCE_YOUR_CALM close) acts first; this is the backstop.
    nghttp2_option_set_stream_reset_rate_limit(option, 2 * settings.resetBurst, 2 * settings.resetRate)
    // Request bytes are acknowledged (WINDOW_UPDATE) once consumed, not on
    // arrival: the connection's window at once, a stream's when its handler
    // reads them (`consumeConnection`, `consumeStream`, `RequestCredit`).
    nghttp2_option_set_no_auto_window_update(option, 1)
    // gRPC metadata values may end in spaces ("Bearer "): the application judges them.
    nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(option, 1)

    var session: OpaquePointer?
    let rv = nghttp2_session_server_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), option)
    guard rv == 0, let session else { throw NGHTTP2Error(code: rv) }
    self.session = session

    var entries = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
    ]
    let settingsResult = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    guard settingsResult == 0 else { throw NGHTTP2Error(code: settingsResult) }
  }

  deinit {
    if let session { nghttp2_session_del(session) }
  }

  /// Feeds bytes read from the peer; the callbacks fill `events`.
  func receive(_ buffer: ByteBuffer) throws(NGHTTP2Error) {
    guard let session else { return }
    let rv = buffer.withUnsafeReadableBytes { bytes -> Int in
      guard let base = bytes.baseAddress else { return 0 }
      return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
    if rv < 0 { throw NGHTTP2Error(code: Int32(rv)) }
  }

  /// Everything nghttp2 has to send, appended to `buffer`.
  func send(into buffer: inout ByteBuffer) throws(NGHTTP2Error) {
    guard let session else { return }
    while true {
      var data: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &data)
      if count < 0 { throw NGHTTP2Error(code: Int32(count)) }
      guard count > 0, let data else { return }
      buffer.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
    }
  }

  /// False once nghttp2 has nothing more to read or write (GOAWAY exchanged
  /// and no stream left, or a connection error): the connection may close.
  var isAlive: Bool {
    guard let session else { return false }
    return nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0
  }

  /// Response headers; later DATA comes from `outbound[streamID]`.
  func submitResponse(streamID: Int32, headers: [(String, String)]) -> Int32 {
    guard let session else { return -1 }
    let out = Outbound(buffer: allocator.buffer(capacity: 0))
    outbound[streamID] = out
    var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readOutbound)
    return withHeaderList(headers) { nghttp2_submit_response(session, streamID, $0, $1, &provider) }
  }

  /// A response that is headers alone, ending the stream (trailers-only, or an HTTP error).
  func submitHeadersOnly(streamID: Int32, headers: [(String, String)]) -> Int32 {
    guard let session else { return -1 }
    return withHeaderList(headers) { nghttp2_submit_response(session, streamID, $0, $1, nil) }
  }

  /// Wakes a stream's deferred DATA after bytes or trailers were queued.
  func resume(streamID: Int32) {
    guard let session else { return }
    _ = nghttp2_session_resume_data(session, streamID)
  }

  /// Request bytes off the connection's window (taken from the socket: the
  /// connection never waits for one stream's handler).
  func consumeConnection(_ count: Int) {
    guard let session, count > 0 else { return }
    _ = nghttp2_session_consume_connection(session, count)
  }

  /// Request bytes off a stream's window: its handler read them, or they were dropped.
  func consumeStream(_ streamID: Int32, _ count: Int) {
    guard let session, count > 0 else { return }
    _ = nghttp2_session_consume_stream(session, streamID, count)
  }

  func reset(streamID: Int32, code: UInt32) {
    guard let session else { return }
    _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code)
  }

  func ping(opaque: UInt64, ack: Bool) {
    guard let session else { return }
    var value = opaque.bigEndian
    withUnsafeBytes(of: &value) { bytes in
      _ = nghttp2_submit_ping(
        session, UInt8(ack ? NGHTTP2_FLAG_ACK.rawValue : NGHTTP2_FLAG_NONE.rawValue),
        bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
  }

  /// The first half of a graceful GOAWAY: "stop opening streams soon".
  func shutdownNotice() {
    guard let session else { return }
    _ = nghttp2_submit_shutdown_notice(session)
  }

  /// GOAWAY naming the last stream this server processed.
  func goAway(code: UInt32, debug: String = "") {
    guard let session else { return }
    let last = nghttp2_session_get_last_proc_stream_id(session)
    var debugBytes = Array(debug.utf8)
    _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, code, &debugBytes, debugBytes.count)
  }

  /// Bytes each stream's DATA took from `outbound` since the last call.
  func takeConsumed() -> [(Int32, Int)] {
    var result: [(Int32, Int)] = []
    for (id, out) in outbound where out.consumed > 0 {
      result.append((id, out.consumed))
      out.consumed = 0
    }
    return result
  }

  // MARK: - Called by the C callbacks (inside receive/send)

  fileprivate func beginHeaders(streamID: Int32) {
    pendingHeaders[streamID] = PendingHeaders()
  }

  /// Past the limit the headers are counted and dropped, never kept: nghttp2
  /// goes on decoding the block (HPACK state stays in step) and the stream
  /// gets an answer once it is complete (`headersTooLarge`), not a bare reset.
  fileprivate func header(streamID: Int32, nameLength: Int, valueLength: Int) -> Bool {
    guard pendingHeaders[streamID] != nil else { return false }
    pendingHeaders[streamID]!.bytes += nameLength + valueLength + 32
    if pendingHeaders[streamID]!.bytes > maxHeaderListSize, !pendingHeaders[streamID]!.tooLarge {
      pendingHeaders[streamID]!.tooLarge = true
      pendingHeaders[streamID]!.headers = []
    }
    return !pendingHeaders[streamID]!.tooLarge
  }

  fileprivate func keep(streamID: Int32, name: String, value: String) {
    pendingHeaders[streamID]?.headers.append((name, value))
  }

  fileprivate func headersComplete(streamID: Int32, endStream: Bool) {
    guard let pending = pendingHeaders.removeValue(forKey: streamID) else { return }
    if pending.tooLarge {
      events.append(.headersTooLarge(streamID: streamID, bytes: pending.bytes, endStream: endStream))
    } else {
      events.append(.request(streamID: streamID, headers: pending.headers, endStream: endStream))
    }
  }

  fileprivate func read(
    streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
    flags: UnsafeMutablePointer<UInt32>
  ) -> Int {
    guard let out = outbound[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
    let count = min(length, out.buffer.readableBytes)
    if count > 0 {
      out.buffer.withUnsafeReadableBytes { bytes in
        buffer.update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
      }
      out.buffer.moveReaderIndex(forwardBy: count)
      out.consumed += count
      if out.buffer.readableBytes == 0 { out.buffer.clear() }
    }
    if out.buffer.readableBytes == 0 {
      if let trailers = out.trailers, !out.trailersSubmitted, let session {
        // Documented as allowed from inside this callback.
        out.trailersSubmitted = true
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        let rv = withHeaderList(trailers) { nghttp2_submit_trailer(session, streamID, $0, $1) }
        if rv != 0 { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        return count
      }
      if count == 0 { return Int(NGHTTP2_ERR_DEFERRED.rawValue) }
    }
    return count
  }
}

/// A libnghttp2 error code, with its own description.
struct NGHTTP2Error: Error, CustomStringConvertible {
  let code: Int32
  var description: String {
    code == -901 ? "out of memory" : String(cString: nghttp2_strerror(code))
  }
}

/// Calls `body` with an `nghttp2_nv` array for `headers` (nghttp2 copies it).
private func withHeaderList<R>(
  _ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R
) -> R {
  var storage: [UInt8] = []
  var offsets: [(Int, Int, Int, Int)] = []
  for (name, value) in headers {
    let nameStart = storage.count
    storage.append(contentsOf: name.utf8)
    let valueStart = storage.count
    storage.append(contentsOf: value.utf8)
    offsets.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
  }
  if storage.isEmpty { storage.append(0) }
  return storage.withUnsafeMutableBufferPointer { bytes in
    let base = bytes.baseAddress!
    let list = offsets.map { nameStart, nameCount, valueStart, valueCount in
      nghttp2_nv(
        name: base + nameStart, value: base + valueStart, namelen: nameCount, valuelen: valueCount,
        flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return list.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
  }
}

private func owner(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2Session {
  Unmanaged<NGHTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private func frameType(_ frame: UnsafePointer<nghttp2_frame>) -> UInt32 {
  UInt32(frame.pointee.hd.type)
}

private func hasFlag(_ frame: UnsafePointer<nghttp2_frame>, _ flag: nghttp2_flag) -> Bool {
  frame.pointee.hd.flags & UInt8(flag.rawValue) != 0
}

private func opaqueData(_ frame: UnsafePointer<nghttp2_frame>) -> UInt64 {
  var value: UInt64 = 0
  withUnsafeBytes(of: frame.pointee.ping.opaque_data) { bytes in
    for byte in bytes { value = value << 8 | UInt64(byte) }
  }
  return value
}

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
  guard let frame, frameType(frame) == NGHTTP2_HEADERS.rawValue,
    frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
  else { return 0 }
  owner(userData).beginHeaders(streamID: frame.pointee.hd.stream_id)
  return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
  guard let frame, let name, let value else { return 0 }
  let session = owner(userData)
  let streamID = frame.pointee.hd.stream_id
  // Request trailers and headers past the size limit are not kept.
  guard session.header(streamID: streamID, nameLength: nameLength, valueLength: valueLength) else { return 0 }
  let nameString = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
  let valueString = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
  session.keep(streamID: streamID, name: nameString, value: valueString)
  return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
  guard let frame else { return 0 }
  let session = owner(userData)
  let streamID = frame.pointee.hd.stream_id
  switch frameType(frame) {
  case NGHTTP2_HEADERS.rawValue:
    if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
      session.headersComplete(streamID: streamID, endStream: hasFlag(frame, NGHTTP2_FLAG_END_STREAM))
    } else if hasFlag(frame, NGHTTP2_FLAG_END_STREAM) {
      // Request trailers: only their END_STREAM matters.
      session.events.append(.endStream(streamID: streamID))
    }
  case NGHTTP2_DATA.rawValue:
    if hasFlag(frame, NGHTTP2_FLAG_END_STREAM) { session.events.append(.endStream(streamID: streamID)) }
  case NGHTTP2_PING.rawValue:
    let opaque = opaqueData(frame)
    session.events.append(hasFlag(frame, NGHTTP2_FLAG_ACK) ? .pingAck(opaque: opaque) : .ping(opaque: opaque))
  case NGHTTP2_RST_STREAM.rawValue:
    session.events.append(.resetByPeer(streamID: streamID, errorCode: frame.pointee.rst_stream.error_code))
  case NGHTTP2_GOAWAY.rawValue:
    session.events.append(.goAway(errorCode: frame.pointee.goaway.error_code))
  default:
    break
  }
  return 0
}

private let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
  guard let data, length > 0 else { return 0 }
  owner(userData).events.append(.data(streamID: streamID, bytes: Array(UnsafeBufferPointer(start: data, count: length))))
  return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
  let session = owner(userData)
  session.outbound[streamID] = nil
  session.events.append(.closed(streamID: streamID, errorCode: errorCode))
  return 0
}

private let onInvalidFrameRecv: nghttp2_on_invalid_frame_recv_callback = { _, frame, error, userData in
  owner(userData).events.append(.invalidFrame(streamID: frame?.pointee.hd.stream_id ?? 0, error: error))
  return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
  guard let frame else { return 0 }
  let type = frameType(frame)
  guard type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue else { return 0 }
  let session = owner(userData)
  session.sentHeadersOrData = true
  if hasFlag(frame, NGHTTP2_FLAG_END_STREAM) { session.events.append(.sentEndStream(streamID: frame.pointee.hd.stream_id)) }
  return 0
}

private let readOutbound: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
  guard let buffer, let flags else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
  return owner(userData).read(streamID: streamID, into: buffer, length: length, flags: flags)
}

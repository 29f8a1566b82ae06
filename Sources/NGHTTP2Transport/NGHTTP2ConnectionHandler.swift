import GRPCCore
import Logging
import NIOCore

/// One HTTP/2 connection: owns its `NGHTTP2Session`, turns requests into
/// GRPCCore streams, and sends what their handlers write.
///
/// Confined to the channel's event loop. Handlers' writes reach it through
/// the `ConnectionOutbox`, drained once per event-loop turn.
final class NGHTTP2ConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  /// One request stream's state on this side (a class: mutated in place,
  /// never copied on the drain's path).
  final class Stream {
    /// Each part with the request bytes its handler consumes by reading it.
    var inbound: RequestPartQueue?
    let cancellation = StreamCancellation()
    /// Request bytes not yet a whole message (at most one message and its
    /// prefix: the transport's own bound).
    var pending: [UInt8] = []
    /// How many of `pending`'s first bytes are already consumed (a partial
    /// message is, so one larger than the window can arrive).
    var pendingConsumed = 0
    var requestEnded = false
    var response = Response.none
    /// The transport answered (a protocol error): the handler's output is dropped.
    var answered = false
    var graceTimer: Scheduled<Void>?
  }

  enum Response { case none, headers, ended }

  private let config: NGHTTP2ServerTransport.Config
  private let logger: Logger
  private let accept: @Sendable (AcceptedStream) -> Bool
  private let onClose: @Sendable () -> Void
  let outbox: ConnectionOutbox
  let credit: RequestCredit
  private let methods: [String: MethodDescriptor]

  private var session: NGHTTP2Session?
  private var context: ChannelHandlerContext?
  private var streams: [Int32: Stream] = [:]
  private var remotePeer = "unknown"
  private var localPeer = "unknown"
  private var logPeer = "-"

  // Keepalive: the server pings after `keepaliveInterval` without reading
  // and closes if nothing is read within `keepaliveTimeout` of that ping.
  private var lastRead = NIODeadline.now()
  private var keepaliveTimer: Scheduled<Void>?
  private var keepalivePingSentAt: NIODeadline?

  // The ping-strike policy (gRFC A8).
  private var lastPingReceived: NIODeadline?
  private var pingStrikes = 0

  // Rapid-reset protection: a token bucket of the peer's RST_STREAMs.
  private var resetTokens: Double = 0
  private var resetTokensAt = NIODeadline.now()

  // Graceful shutdown: a notice and a ping, then GOAWAY once the ping is answered.
  private var shuttingDown = false
  private var finalGoAwaySent = false
  /// The last stream ended after the final GOAWAY: close after the next flush.
  private var closeAfterFlush = false
  private var shutdownTimer: Scheduled<Void>?
  private var closing = false
  private var tornDown = false

  private static let keepalivePing: UInt64 = 0x6B65_6570_616C_6976  // "keepaliv"
  private static let shutdownPing: UInt64 = 0x7368_7574_646F_776E  // "shutdown"

  init(
    config: NGHTTP2ServerTransport.Config, logger: Logger, methods: [String: MethodDescriptor], accept: @escaping @Sendable (AcceptedStream) -> Bool,
    onClose: @escaping @Sendable () -> Void
  ) {
    self.config = config
    self.logger = logger
    self.methods = methods
    self.accept = accept
    self.onClose = onClose
    self.outbox = ConnectionOutbox(highWater: config.streamHighWater)
    self.credit = RequestCredit(threshold: config.initialWindowSize / 4)
  }

  // MARK: - Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    if context.channel.isActive { start(context: context) }
  }

  func channelActive(context: ChannelHandlerContext) {
    start(context: context)
    context.fireChannelActive()
  }

  private func start(context: ChannelHandlerContext) {
    guard session == nil, !closing else { return }
    if let remote = context.channel.remoteAddress {
      remotePeer = GRPCWire.peer(host: remote.ipAddress, port: remote.port, isIPv6: remote.protocol == .inet6)
      logPeer = remote.protocol == .inet6 ? "[\(remote.ipAddress ?? "")]:\(remote.port ?? 0)" : "\(remote.ipAddress ?? ""):\(remote.port ?? 0)"
    }
    if let local = context.channel.localAddress {
      localPeer = GRPCWire.peer(host: local.ipAddress, port: local.port, isIPv6: local.protocol == .inet6)
    }
    do {
      session = try NGHTTP2Session(
        settings: .init(
          maxConcurrentStreams: UInt32(config.maxConcurrentStreams), initialWindowSize: UInt32(config.initialWindowSize),
          maxHeaderListSize: UInt32(config.maxHeaderListSize), resetBurst: UInt64(config.maxResetBurst),
          resetRate: UInt64(config.maxResetRate)),
        allocator: context.channel.allocator)
    } catch {
      logger.error("connection refused: cannot start its HTTP/2 session", metadata: ["peer": "\(logPeer)", "error": "\(error)"])
      context.close(promise: nil)
      return
    }
    let loop = context.eventLoop
    let bound = NIOLoopBound(self, eventLoop: loop)
    outbox.setDrain { loop.execute { bound.value.drainOutbox() } }
    credit.setReport { loop.execute { bound.value.applyCredit() } }
    lastRead = .now()
    resetTokens = Double(config.maxResetBurst)
    resetTokensAt = lastRead
    scheduleKeepalive(at: lastRead + config.keepaliveInterval)
    flushOutput()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard let session, !closing else { return }
    lastRead = .now()
    do {
      try session.receive(unwrapInboundIn(data))
    } catch {
      // nghttp2 has queued its GOAWAY (bad preface, flooding, a protocol error).
      logger.info(
        "connection closed: HTTP/2 protocol error", metadata: ["peer": "\(logPeer)", "error": "\(error)"])
      processEvents()
      flushOutput(thenClose: true)
      return
    }
    processEvents()
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    flushOutput()
    context.fireChannelReadComplete()
  }

  func channelInactive(context: ChannelHandlerContext) {
    tearDown()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    logger.debug("connection error", metadata: ["peer": "\(logPeer)", "error": "\(error)"])
    context.close(promise: nil)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    tearDown()
    self.context = nil
  }

  private func tearDown() {
    guard !tornDown else { return }
    tornDown = true
    closing = true
    keepaliveTimer?.cancel()
    shutdownTimer?.cancel()
    let closed = RPCError(code: .unavailable, message: "The connection closed.")
    for (_, stream) in streams {
      stream.graceTimer?.cancel()
      stream.inbound?.finish(throwing: closed)
      stream.cancellation.cancel()
    }
    streams = [:]
    outbox.closeAll()
    credit.setReport(nil)
    session = nil
    onClose()
  }

  // MARK: - Output

  /// Applies what handlers wrote since the last turn, then sends it all.
  func drainOutbox() {
    guard let session, !closing else {
      _ = outbox.takeAll()
      return
    }
    let pending = outbox.takeAll()
    var ended: [Int32] = []
    for (id, parts) in pending.parts {
      guard let stream = streams[id], !stream.answered else { continue }
      var wrote = false
      for part in parts {
        switch part {
        case .metadata(let metadata):
          guard stream.response == .none else { continue }
          _ = session.submitResponse(streamID: id, headers: GRPCWire.responseHeaders(metadata: metadata))
          stream.response = .headers
        case .message(let bytes):
          guard let out = responseBody(id, stream, session) else { continue }
          Self.append(bytes, to: out)
          wrote = true
        case .status(let status, let metadata):
          switch stream.response {
          case .none:
            _ = session.submitHeadersOnly(
              streamID: id, headers: GRPCWire.trailers(status: status, metadata: metadata, trailersOnly: true))
          case .headers:
            session.outbound[id]?.trailers = GRPCWire.trailers(status: status, metadata: metadata, trailersOnly: false)
            wrote = true
          case .ended:
            continue
          }
          stream.response = .ended
          ended.append(id)
        }
      }
      if wrote { session.resume(streamID: id) }
    }
    // Sources after parts: a stream's response headers are a part written
    // before its handler attached the source, and its status one written
    // after the handler took what the source had left.
    if !pending.sources.isEmpty {
      var pulled: [(Int32, Int)] = []
      pulled.reserveCapacity(pending.sources.count)
      for (id, source) in pending.sources {
        // Checked before pulling: what the source hands over must be sent.
        guard let stream = streams[id], !stream.answered, let out = responseBody(id, stream, session) else { continue }
        let messages = source()
        guard !messages.isEmpty else { continue }
        pulled.append((id, messages.reduce(0) { $0 + Self.append($1, to: out) }))
        session.resume(streamID: id)
      }
      outbox.pulled(pulled)
    }
    flushOutput()
    // A response the handler finished whose bytes the peer does not take
    // (it stopped reading) is reset after the grace: no stream lingers.
    if let grace = config.finishedStreamGrace {
      for id in ended where streams[id] != nil && streams[id]!.graceTimer == nil {
        streams[id]!.graceTimer = scheduleReset(streamID: id, after: grace, reason: "response_not_taken")
      }
    }
  }

  /// Where a response message goes: the stream's DATA buffer, its response
  /// headers submitted first if the handler wrote none; nil once its status is.
  private func responseBody(_ id: Int32, _ stream: Stream, _ session: NGHTTP2Session) -> NGHTTP2Session.Outbound? {
    if stream.response == .none {
      _ = session.submitResponse(streamID: id, headers: GRPCWire.responseHeaders(metadata: [:]))
      stream.response = .headers
    }
    guard stream.response == .headers else { return nil }
    return session.outbound[id]
  }

  /// Frames `message` (flag, length, bytes) into `out`; returns the bytes added.
  @discardableResult
  private static func append(_ message: [UInt8], to out: NGHTTP2Session.Outbound) -> Int {
    out.buffer.writeInteger(UInt8(0))
    out.buffer.writeInteger(UInt32(message.count))
    out.buffer.writeBytes(message)
    return message.count + 5
  }

  /// Handlers read request bytes: their streams' windows open by as much.
  func applyCredit() {
    guard let session, !closing else { return }
    for (id, count) in credit.take() { session.consumeStream(id, count) }
    flushOutput()
  }

  /// Resets `streamID` after `delay` unless it has closed by then.
  func scheduleReset(streamID: Int32, after delay: TimeAmount, reason: String) -> Scheduled<Void>? {
    guard let context else { return nil }
    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
    return context.eventLoop.scheduleTask(in: delay) {
      bound.value.resetIfOpen(streamID: streamID, reason: reason)
    }
  }

  func resetIfOpen(streamID: Int32, reason: String) {
    guard let session, streams[streamID] != nil else { return }
    logger.info(
      "stream reset: its client did not take the end of its response",
      metadata: ["peer": "\(logPeer)", "stream": "\(streamID)", "reason": "\(reason)"])
    session.reset(streamID: streamID, code: HTTP2Code.cancel)
    flushOutput()
  }

  /// Everything nghttp2 has to send in one write and flush; the writers whose
  /// bytes it took may go on.
  private func flushOutput(thenClose: Bool = false) {
    guard let session, let context else { return }
    var buffer = context.channel.allocator.buffer(capacity: 0)
    do {
      while true {
        try session.send(into: &buffer)
        if session.events.isEmpty { break }
        processEvents()
      }
    } catch {
      logger.info("connection closed: HTTP/2 send failed", metadata: ["peer": "\(logPeer)", "error": "\(error)"])
      close(context: context, after: buffer)
      return
    }
    outbox.consumed(session.takeConsumed())
    if thenClose || closeAfterFlush || !session.isAlive {
      close(context: context, after: buffer)
    } else if buffer.readableBytes > 0 {
      context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
  }

  private func close(context: ChannelHandlerContext, after buffer: ByteBuffer) {
    guard !closing else { return }
    let channel = context.channel
    if buffer.readableBytes > 0 {
      context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    } else {
      context.close(promise: nil)
    }
    tearDown()
  }

  // MARK: - What the peer did

  private func processEvents() {
    guard let session else { return }
    while !session.events.isEmpty {
      let events = session.events
      session.events = []
      for event in events { handle(event, session: session) }
    }
  }

  private func handle(_ event: NGHTTP2Session.Event, session: NGHTTP2Session) {
    switch event {
    case .request(let id, let headers, let endStream):
      openStream(id, headers: headers, endStream: endStream, session: session)
    case .data(let id, let bytes):
      session.consumeConnection(bytes.count)
      receive(bytes, on: id, session: session)
    case .endStream(let id):
      guard let stream = streams[id] else { return }
      stream.requestEnded = true
      if !stream.answered, !stream.pending.isEmpty {
        answer(
          id, status: Status(code: .internalError, message: "The request ended inside a message (a truncated gRPC frame)."),
          log: "stream refused: truncated gRPC frame")
        return
      }
      stream.inbound?.finish()
    case .closed(let id, let code):
      guard let stream = streams.removeValue(forKey: id) else { return }
      stream.graceTimer?.cancel()
      outbox.close(id)
      credit.close(id)
      stream.inbound?.finish(throwing: RPCError(code: .cancelled, message: "The client cancelled the call."))
      if stream.response != .ended || code != HTTP2Code.noError {
        stream.cancellation.cancel()
      }
      if code != HTTP2Code.noError {
        logger.debug("stream reset", metadata: ["peer": "\(logPeer)", "stream": "\(id)", "code": "\(HTTP2Code.name(code))"])
      }
      // Closed once what ended the stream is written: its trailers may still
      // be in the buffer `flushOutput` is filling (closing here lost them).
      if shuttingDown, finalGoAwaySent, streams.isEmpty { closeAfterFlush = true }
    case .resetByPeer:
      // `.closed` follows. Opening and cancelling streams costs the server
      // work the peer does not wait for (CVE-2023-44487): past the bucket,
      // GOAWAY ENHANCE_YOUR_CALM and close.
      let now = NIODeadline.now()
      let elapsed = Double((now - resetTokensAt).nanoseconds) / 1e9
      resetTokensAt = now
      resetTokens = min(Double(config.maxResetBurst), resetTokens + elapsed * Double(config.maxResetRate)) - 1
      if resetTokens < 0, !closing {
        logger.info(
          "connection closed: too many stream resets",
          metadata: ["peer": "\(logPeer)", "burst": "\(config.maxResetBurst)", "per_second": "\(config.maxResetRate)"])
        session.goAway(code: HTTP2Code.enhanceYourCalm, debug: "too_many_resets")
        flushOutput(thenClose: true)
      }
    case .ping(let opaque):
      receivedPing(opaque, session: session)
    case .pingAck(let opaque):
      if opaque == Self.keepalivePing { keepalivePingSentAt = nil }
      if opaque == Self.shutdownPing { sendFinalGoAway() }
    case .goAway(let code):
      logger.debug("peer sent GOAWAY", metadata: ["peer": "\(logPeer)", "code": "\(HTTP2Code.name(code))"])
    case .invalidFrame(let id, let error):
      logger.info(
        "protocol error: invalid frame",
        metadata: ["peer": "\(logPeer)", "stream": "\(id)", "error": "\(NGHTTP2Error(code: error))"])
    case .headersTooLarge(let id, let bytes, let endStream):
      refuseOversizedHeaders(id, bytes: bytes, endStream: endStream, session: session)
    case .sentEndStream(let id):
      // The response is complete; a request still open is over too (gRPC).
      if let stream = streams[id], !stream.requestEnded { session.reset(streamID: id, code: HTTP2Code.noError) }
    }
  }

  private func openStream(
    _ id: Int32, headers: [(name: String, value: String)], endStream: Bool, session: NGHTTP2Session
  ) {
    func first(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    // Until accepted, the stream is the transport's to answer; its data is ignored.
    let stream = Stream()
    stream.requestEnded = endStream
    stream.response = .ended
    stream.answered = true
    streams[id] = stream

    guard first(":method") == "POST" else {
      logger.info("stream refused: method is not POST", metadata: ["peer": "\(logPeer)", "method": "\(first(":method") ?? "-")"])
      _ = session.submitHeadersOnly(streamID: id, headers: [(":status", "405")])
      return
    }
    guard GRPCWire.isGRPCContentType(first("content-type")) else {
      logger.info(
        "stream refused: content-type is not application/grpc",
        metadata: ["peer": "\(logPeer)", "content_type": "\(first("content-type") ?? "-")"])
      _ = session.submitHeadersOnly(streamID: id, headers: [(":status", "415")])
      return
    }
    // PROTOCOL-HTTP2.md requires `te: trailers` in every request: it says no
    // proxy on the way drops trailers, which carry every gRPC status. C-core
    // and grpc-java refuse a request without it (C-core with a bare
    // RST_STREAM, grpc-java with INTERNAL and a message); grpc-go does not
    // check. We follow the spec and answer as grpc-java does, so the client
    // learns why. A value other than `trailers` does not get here: nghttp2
    // rejects it as malformed (RFC 9113 §8.2.2, RST_STREAM PROTOCOL_ERROR).
    let te = first("te")
    guard te?.lowercased() == "trailers" else {
      let message =
        te.map { "The te header is \($0), not trailers as gRPC requires." }
        ?? "The te header is missing: gRPC requires te: trailers (a proxy on the way may not pass trailers)."
      refuse(id, Status(code: .internalError, message: message), session, log: "stream refused: te is not trailers")
      return
    }
    let path = first(":path") ?? ""
    guard let descriptor = methods[path] ?? GRPCWire.method(fromPath: path) else {
      refuse(id, Status(code: .unimplemented, message: "\(path) is not a gRPC method path (/package.Service/Method)."), session)
      return
    }
    if let encoding = first("grpc-encoding"), encoding != "identity" {
      refuse(
        id, Status(code: .unimplemented, message: "\(encoding) compression is not supported; grpc-accept-encoding lists what is."),
        session, extra: [("grpc-accept-encoding", "identity")])
      return
    }
    guard let metadata = GRPCWire.metadata(from: headers) else {
      refuse(id, Status(code: .internalError, message: "A -bin header's value is not base64."), session)
      return
    }

    let inbound = RequestPartQueue()
    inbound.yield((.metadata(metadata), 0))
    if endStream { inbound.finish() }
    stream.inbound = inbound
    stream.response = .none
    stream.answered = false
    streams[id] = stream
    outbox.open(id)
    credit.open(id)
    let rpc = RPCStream(
      descriptor: descriptor,
      inbound: RPCAsyncSequence(wrapping: CreditedRequestParts(base: inbound, credit: credit, streamID: id)),
      outbound: RPCWriter.Closable(wrapping: StreamWriter(outbox: outbox, streamID: id)))
    let streamContext: NGHTTP2StreamContext
    if let context {
      let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
      let loop = context.eventLoop
      streamContext = NGHTTP2StreamContext(outbox: outbox, streamID: id) { delay, reason in
        loop.execute {
          let handler = bound.value
          guard let stream = handler.streams[id], stream.graceTimer == nil else { return }
          handler.streams[id]!.graceTimer = handler.scheduleReset(streamID: id, after: delay, reason: reason)
        }
      }
    } else {
      streamContext = NGHTTP2StreamContext(outbox: outbox, streamID: id) { _, _ in }
    }
    let accepted = AcceptedStream(
      stream: rpc, remotePeer: remotePeer, localPeer: localPeer, cancellation: stream.cancellation,
      transportSpecific: streamContext, outbox: outbox, streamID: id)
    if !accept(accepted) {
      streams[id] = nil
      outbox.close(id)
      credit.close(id)
      inbound.finish()
      session.reset(streamID: id, code: HTTP2Code.refusedStream)
    }
  }

  /// A request whose headers passed `maxHeaderListSize` (advertised as
  /// SETTINGS_MAX_HEADER_LIST_SIZE): HTTP 431, as RFC 9113 §10.5.1 and RFC
  /// 6585 give it, carrying grpc-status RESOURCE_EXHAUSTED and a message for
  /// gRPC clients that read it (grpc-java answers its HTTP errors the same
  /// way). Only this stream ends; the connection serves on.
  private func refuseOversizedHeaders(_ id: Int32, bytes: Int, endStream: Bool, session: NGHTTP2Session) {
    logger.info(
      "stream refused: request headers too large",
      metadata: ["peer": "\(logPeer)", "stream": "\(id)", "bytes": "\(bytes)", "limit": "\(config.maxHeaderListSize)"])
    let stream = Stream()
    stream.requestEnded = endStream
    stream.response = .ended
    stream.answered = true
    streams[id] = stream
    let status = Status(
      code: .resourceExhausted,
      message: "Request headers of \(bytes) bytes are larger than the limit of \(config.maxHeaderListSize) bytes.")
    var headers = GRPCWire.trailers(status: status, metadata: [:], trailersOnly: true)
    headers[0] = (":status", "431")
    _ = session.submitHeadersOnly(streamID: id, headers: headers)
  }

  /// Answers a request the transport refuses before any handler saw it.
  private func refuse(
    _ id: Int32, _ status: Status, _ session: NGHTTP2Session, extra: [(String, String)] = [],
    log: Logger.Message = "stream refused"
  ) {
    logger.info(
      log, metadata: ["peer": "\(logPeer)", "code": "\(status.code)", "error": "\(status.message)"])
    _ = session.submitHeadersOnly(
      streamID: id, headers: GRPCWire.trailers(status: status, metadata: [:], trailersOnly: true) + extra)
  }

  /// Splits request bytes into gRPC messages (1-byte flag, 4-byte length).
  /// A whole message's bytes are consumed when its handler reads it; a
  /// partial message's (bounded by `maxRequestPayloadSize`) and dropped
  /// bytes at once.
  private func receive(_ bytes: [UInt8], on id: Int32, session: NGHTTP2Session) {
    guard let stream = streams[id], !stream.answered, let inbound = stream.inbound else {
      session.consumeStream(id, bytes.count)
      return
    }
    stream.pending += bytes
    var offset = 0
    var failure: (Status, Logger.Message, [(String, String)])?
    while stream.pending.count - offset >= 5 {
      let flag = stream.pending[offset]
      var length = 0
      for byte in stream.pending[(offset + 1)..<(offset + 5)] { length = length << 8 | Int(byte) }
      if flag == 1 {
        failure = (
          Status(code: .unimplemented, message: "Compressed messages are not supported: send them uncompressed (grpc-encoding identity)."),
          "stream refused: compressed message", [("grpc-accept-encoding", "identity")]
        )
        break
      }
      if flag > 1 {
        failure = (Status(code: .internalError, message: "Invalid gRPC message flag \(flag)."), "stream refused: invalid gRPC frame", [])
        break
      }
      if length > config.maxRequestPayloadSize {
        failure = (
          Status(
            code: .resourceExhausted,
            message: "A request message of \(length) bytes is larger than the limit of \(config.maxRequestPayloadSize) bytes."),
          "stream refused: request message too large", []
        )
        break
      }
      guard stream.pending.count - offset - 5 >= length else { break }
      let alreadyConsumed = min(stream.pendingConsumed, 5 + length)
      stream.pendingConsumed -= alreadyConsumed
      inbound.yield((.message(Array(stream.pending[(offset + 5)..<(offset + 5 + length)])), 5 + length - alreadyConsumed))
      offset += 5 + length
    }
    // What is left is dropped (a failure) or a partial message: consumed now.
    session.consumeStream(id, stream.pending.count - offset - stream.pendingConsumed)
    if let (status, log, extra) = failure {
      answer(id, status: status, log: log, extra: extra)
      return
    }
    stream.pending.removeFirst(offset)
    stream.pendingConsumed = stream.pending.count
  }

  /// Ends a stream the handler already has with `status` from the transport:
  /// its handler is cancelled and what it writes from now on is dropped.
  private func answer(_ id: Int32, status: Status, log: Logger.Message, extra: [(String, String)] = []) {
    guard let session, let stream = streams[id], !stream.answered else { return }
    logger.info(log, metadata: ["peer": "\(logPeer)", "stream": "\(id)", "code": "\(status.code)", "error": "\(status.message)"])
    stream.answered = true
    stream.pending = []
    stream.pendingConsumed = 0
    stream.inbound?.finish(throwing: RPCError(code: RPCError.Code(status.code) ?? .internalError, message: status.message))
    outbox.close(id)
    stream.cancellation.cancel()
    switch stream.response {
    case .none:
      _ = session.submitHeadersOnly(
        streamID: id, headers: GRPCWire.trailers(status: status, metadata: [:], trailersOnly: true) + extra)
    case .headers:
      session.outbound[id]?.trailers = GRPCWire.trailers(status: status, metadata: [:], trailersOnly: false) + extra
      session.resume(streamID: id)
    case .ended:
      break
    }
    stream.response = .ended
  }

  // MARK: - Pings

  private func receivedPing(_ opaque: UInt64, session: NGHTTP2Session) {
    session.ping(opaque: opaque, ack: true)
    let now = NIODeadline.now()
    // The server sent HEADERS or DATA since the last ping: a client measuring
    // bandwidth (grpc-go, C-core BDP pings) is not abusive; start over.
    if session.sentHeadersOrData {
      session.sentHeadersOrData = false
      pingStrikes = 0
      lastPingReceived = nil
    }
    let interval =
      streams.isEmpty && !config.allowPingsWithoutCalls ? TimeAmount.hours(2) : config.minPingInterval
    if let last = lastPingReceived, now - last < interval {
      pingStrikes += 1
      if pingStrikes > config.maxPingStrikes {
        logger.info(
          "connection closed: too many pings", metadata: ["peer": "\(logPeer)", "strikes": "\(pingStrikes)"])
        session.goAway(code: HTTP2Code.enhanceYourCalm, debug: "too_many_pings")
        flushOutput(thenClose: true)
        return
      }
    }
    lastPingReceived = now
  }

  private func scheduleKeepalive(at deadline: NIODeadline) {
    guard let context else { return }
    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
    keepaliveTimer = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.keepaliveFired() }
  }

  private func keepaliveFired() {
    guard let session, let context, !closing else { return }
    let now = NIODeadline.now()
    if let sentAt = keepalivePingSentAt {
      if lastRead > sentAt {
        keepalivePingSentAt = nil
        scheduleKeepalive(at: lastRead + config.keepaliveInterval)
      } else {
        logger.info("connection closed: keepalive timed out", metadata: ["peer": "\(logPeer)"])
        close(context: context, after: context.channel.allocator.buffer(capacity: 0))
      }
      return
    }
    if now >= lastRead + config.keepaliveInterval {
      keepalivePingSentAt = now
      session.ping(opaque: Self.keepalivePing, ack: false)
      flushOutput()
      scheduleKeepalive(at: now + config.keepaliveTimeout)
    } else {
      scheduleKeepalive(at: lastRead + config.keepaliveInterval)
    }
  }

  // MARK: - Graceful shutdown

  /// GOAWAY in two steps (a notice, then the last stream id once a ping
  /// comes back); the connection closes when its streams are done.
  func beginGracefulShutdown() {
    guard let session, let context, !shuttingDown, !closing else { return }
    shuttingDown = true
    session.shutdownNotice()
    session.ping(opaque: Self.shutdownPing, ack: false)
    flushOutput()
    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
    shutdownTimer = context.eventLoop.scheduleTask(in: config.shutdownPingTimeout) { bound.value.sendFinalGoAway() }
  }

  private func sendFinalGoAway() {
    guard let session, let context, shuttingDown, !finalGoAwaySent else { return }
    finalGoAwaySent = true
    shutdownTimer?.cancel()
    session.goAway(code: HTTP2Code.noError)
    flushOutput(thenClose: streams.isEmpty)
    _ = context
  }

  /// Closes the connection at once (the transport's listener was cancelled).
  func closeNow() {
    guard let context, !closing else { return }
    close(context: context, after: context.channel.allocator.buffer(capacity: 0))
  }
}

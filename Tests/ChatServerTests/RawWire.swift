import ChatTestSupport
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// Clients that send what a well-behaved gRPC client never would: arbitrary
// bytes as a message (through grpc-swift), hand-made HTTP/2 frames (NIOHTTP2)
// and raw TCP (NIOPosix).

/// Sends `[UInt8]` as a message's bytes, unchanged: for invalid protobuf.
struct RawBytesSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
    Bytes(message)
  }
}

/// Receives a message's bytes, undecoded.
struct RawBytesDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

/// A gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, bytes.
func grpcFrame(_ message: [UInt8], declaredLength: UInt32? = nil) -> [UInt8] {
  let length = declaredLength ?? UInt32(message.count)
  return [0] + withUnsafeBytes(of: length.bigEndian) { Array($0) } + message
}

/// Raw TCP: writes `bytes`, then reads until the server closes the connection.
/// Throws `TimedOut` if it stays open for `seconds`.
func exchangeRawTCP(port: Int, sending bytes: [UInt8], seconds: Double = 5) async throws -> [UInt8] {
  let channel = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  return try await channel.executeThenClose { inbound, outbound in
    try await outbound.write(ByteBuffer(bytes: bytes))
    return try await withTimeout(seconds, "the server to close the connection") {
      var received: [UInt8] = []
      do {
        for try await buffer in inbound { received += buffer.readableBytesView }
      } catch let error as IOError where error.errnoCode == ECONNRESET {
        // A reset is a close too.
      }
      return received
    }
  }
}

/// How a hand-made HTTP/2 stream ended.
enum StreamOutcome: Equatable, CustomStringConvertible {
  /// The server ended the call with this gRPC status (trailers or trailers-only).
  case status(Status.Code, message: String)
  /// The server reset the stream.
  case reset(HTTP2ErrorCode)
  /// The stream or its connection closed without a status.
  case closed

  var code: Status.Code? {
    if case .status(let code, _) = self { return code }
    return nil
  }

  var description: String {
    switch self {
    case .status(let code, let message): "status \(code): \(message)"
    case .reset(let code): "RST_STREAM \(code)"
    case .closed: "closed without status"
    }
  }
}

/// A connection-level frame the server sent.
enum RootFrame: Sendable {
  case pingAck
  case goAway(HTTP2ErrorCode, debugData: String)
}

/// One HTTP/2 connection driven frame by frame, with NIOHTTP2's client.
final class RawHTTP2Connection: Sendable {
  private let channel: any Channel
  fileprivate let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>
  /// PING acks and GOAWAYs from the server; finishes when the connection closes.
  let rootFrames: AsyncStream<RootFrame>

  private init(
    channel: any Channel, multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>,
    rootFrames: AsyncStream<RootFrame>
  ) {
    self.channel = channel
    self.multiplexer = multiplexer
    self.rootFrames = rootFrames
  }

  static func connect(port: Int) async throws -> RawHTTP2Connection {
    let (rootFrames, continuation) = AsyncStream.makeStream(of: RootFrame.self)
    let (channel, multiplexer) = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(mode: .client) {
            $0.eventLoop.makeSucceededVoidFuture()
          }
          try channel.pipeline.syncOperations.addHandler(RootFrameRecorder(continuation))
          return (channel, multiplexer)
        }
      }
    return RawHTTP2Connection(channel: channel, multiplexer: multiplexer, rootFrames: rootFrames)
  }

  /// Opens a stream to `path` with gRPC request headers plus `metadata`, sends
  /// `body` as one DATA frame, and waits for the stream to end.
  func call(
    _ path: String, metadata: [(String, String)] = [], body: [UInt8], endStream: Bool = true,
    seconds: Double = 5
  ) async throws -> StreamOutcome {
    let stream = try await multiplexer.openStream { channel in
      channel.eventLoop.makeCompletedFuture {
        try NIOAsyncChannel<HTTP2Frame.FramePayload, HTTP2Frame.FramePayload>(wrappingChannelSynchronously: channel)
      }
    }
    return try await stream.executeThenClose { inbound, outbound in
      let headers = HPACKHeaders(
        [
          (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
          ("content-type", "application/grpc"), ("te", "trailers"),
        ] + metadata)
      try await outbound.write(.headers(.init(headers: headers)))
      try await outbound.write(.data(.init(data: .byteBuffer(ByteBuffer(bytes: body)), endStream: endStream)))
      return try await withTimeout(seconds, "stream \(path) to end") {
        do {
          for try await frame in inbound {
            switch frame {
            case .headers(let headers):
              if let status = headers.headers.first(name: "grpc-status") {
                let code = Int(status).flatMap(Status.Code.init(rawValue:)) ?? .unknown
                return .status(code, message: headers.headers.first(name: "grpc-message") ?? "")
              }
            case .rstStream(let code):
              return .reset(code)
            default:
              continue
            }
          }
        } catch {
          // The stream channel closed under us: same as no status.
        }
        return .closed
      }
    }
  }

  /// Sends a PING (not an ack).
  func ping() async throws {
    let frame = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 42), ack: false))
    try await channel.writeAndFlush(frame)
  }

  /// Waits until the server closes the connection.
  func closed(within seconds: Double = 5) async throws {
    try await withTimeout(seconds, "the server to close the connection") { [channel] in
      try await channel.closeFuture.get()
    }
  }

  func close() async {
    try? await channel.close()
  }
}

/// Passes PING acks and GOAWAYs to a stream, and finishes it when the connection closes.
private final class RootFrameRecorder: ChannelInboundHandler {
  typealias InboundIn = HTTP2Frame
  private let continuation: AsyncStream<RootFrame>.Continuation

  init(_ continuation: AsyncStream<RootFrame>.Continuation) {
    self.continuation = continuation
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data).payload {
    case .ping(_, ack: true):
      continuation.yield(.pingAck)
    case .goAway(_, let code, let debugData):
      continuation.yield(.goAway(code, debugData: debugData.map { String(buffer: $0) } ?? ""))
    default:
      break
    }
    context.fireChannelRead(data)
  }

  func channelInactive(context: ChannelHandlerContext) {
    continuation.finish()
    context.fireChannelInactive()
  }
}

extension RawHTTP2Connection {
  /// Opens a stream to `path`, sends `body` and then never reads from it: no
  /// WINDOW_UPDATE ever opens its flow-control window. Returns the stream
  /// channel's close, which a server reset completes.
  func openUnread(_ path: String, metadata: [(String, String)] = [], body: [UInt8]) async throws -> EventLoopFuture<Void> {
    let stream = try await multiplexer.openStream { channel in
      channel.setOption(ChannelOptions.autoRead, value: false).map { channel }
    }
    let headers = HPACKHeaders(
      [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"), ("te", "trailers"),
      ] + metadata)
    try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers)))
    try await stream.writeAndFlush(
      HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: body)), endStream: true)))
    return stream.closeFuture
  }
}

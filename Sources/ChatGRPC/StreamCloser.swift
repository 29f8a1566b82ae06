import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// Resets HTTP/2 streams on the chat service's request, by a handle it finds
/// in the request's metadata.
///
/// A client that stopped reading keeps its stream's flow-control window
/// shut: a session the server ended would keep its stream, the events
/// buffered for it, its status (waiting behind them) and the handler stuck
/// writing, forever. Closing the stream channel sends RST_STREAM(CANCEL),
/// drops what it buffered and fails the handler's writes. grpc-swift gives a
/// handler no way to its stream, so `StreamTagger`, on every accepted stream,
/// replaces the request header `chat-stream-handle` (a client cannot choose
/// it) with a handle to that stream's channel; nothing else is kept per
/// stream, and no task waits.
public final class StreamCloser: Sendable {
  static let header = "chat-stream-handle"

  private struct State {
    var next: UInt64 = 1
    var channels: [UInt64: any Channel] = [:]
  }

  private let state = Mutex(State())
  private let logger: Logger
  /// The request paths whose streams get a handle.
  let paths: Set<String>

  /// `paths`: the methods whose handlers may reset their streams, as
  /// `/package.Service/Method`.
  public init(paths: Set<String>, logger: Logger) {
    self.paths = paths
    self.logger = logger
  }

  /// Tags an accepted stream channel (`onAcceptHTTP2Stream`).
  public func install(on channel: any Channel) -> EventLoopFuture<Void> {
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(StreamTagger(closer: self), position: .first)
    }
  }

  fileprivate func register(_ channel: any Channel) -> UInt64 {
    state.withLock { state in
      defer { state.next += 1 }
      state.channels[state.next] = channel
      return state.next
    }
  }

  fileprivate func forget(_ handle: UInt64) {
    _ = state.withLock { $0.channels.removeValue(forKey: handle) }
  }

  /// Resets the stream `handle` names if it is still open `grace` from now.
  func reset(_ handle: String, after grace: Duration, reason: String) {
    guard let id = UInt64(handle), let channel = state.withLock({ $0.channels[id] }) else { return }
    let logger = logger
    channel.eventLoop.scheduleTask(in: TimeAmount(grace)) {
      guard channel.isActive else { return }
      logger.info("stream reset: its client did not take the end of its session", metadata: ["reason": "\(reason)"])
      channel.close(promise: nil)
    }
  }
}

/// Puts the stream's handle in its request headers, and forgets the stream
/// when it closes.
private final class StreamTagger: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTP2Frame.FramePayload
  typealias InboundOut = HTTP2Frame.FramePayload

  private let closer: StreamCloser
  private var handle: UInt64?

  init(closer: StreamCloser) {
    self.closer = closer
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard handle == nil, case .headers(var headers) = unwrapInboundIn(data) else {
      context.fireChannelRead(data)
      return
    }
    // A handle only for the calls that ask for resets (Connect); other
    // streams only lose a forged header, and this handler, at once.
    let wanted = headers.headers.first(name: ":path").map(closer.paths.contains) ?? false
    if wanted {
      let handle = closer.register(context.channel)
      self.handle = handle
      headers.headers.remove(name: StreamCloser.header)
      headers.headers.add(name: StreamCloser.header, value: "\(handle)")
      context.fireChannelRead(wrapInboundOut(.headers(headers)))
      return
    }
    if headers.headers.contains(name: StreamCloser.header) {
      headers.headers.remove(name: StreamCloser.header)
      context.fireChannelRead(wrapInboundOut(.headers(headers)))
    } else {
      context.fireChannelRead(data)
    }
    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    if let handle { closer.forget(handle) }
    context.fireChannelInactive()
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    if let handle { closer.forget(handle) }
  }
}

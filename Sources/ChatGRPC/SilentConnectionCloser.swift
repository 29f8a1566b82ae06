import Logging
import NIOCore

/// Closes a connection that has sent nothing for keepalive interval + timeout.
///
/// The server pings a connection `interval` after it last read from it, so a
/// live peer always sends something (at least the ping's ack) within
/// interval + timeout. grpc-swift-nio-transport 2.9.2 does notice the missing
/// ack, but answers it with a graceful GOAWAY that waits for the peer to ack
/// one more ping: a peer that vanished never does, so its connection and its
/// Connect stream would stay open until TCP gives up, many minutes later.
/// This closes the connection outright instead, which ends its streams.
///
/// It goes first in the pipeline (before TLS and HTTP/2) so that every byte
/// read counts, whatever stream it belongs to.
public final class SilentConnectionCloser: ChannelInboundHandler {
  public typealias InboundIn = NIOAny

  private let logger: Logger

  init(logger: Logger) {
    self.logger = logger
  }

  /// Adds the idle timer and the closer at the front of an accepted connection's pipeline.
  public static func install(
    on channel: any Channel, silence: TimeAmount, logger: Logger
  ) -> EventLoopFuture<Void> {
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandlers(
        [IdleStateHandler(readTimeout: silence), SilentConnectionCloser(logger: logger)], position: .first)
    }
  }

  public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    guard case .read? = event as? IdleStateHandler.IdleStateEvent else {
      context.fireUserInboundEventTriggered(event)
      return
    }
    logger.info(
      "connection closed: keepalive timed out",
      metadata: ["peer": "\(PeerAddress(context.remoteAddress))"])
    context.close(promise: nil)
  }
}

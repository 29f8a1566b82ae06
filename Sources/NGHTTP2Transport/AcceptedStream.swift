import GRPCCore
import NIOCore

/// A stream a connection accepted, on its way to a handler task.
struct AcceptedStream: Sendable {
  let stream: RPCStream<NGHTTP2ServerTransport.Inbound, NGHTTP2ServerTransport.Outbound>
  let remotePeer: String
  let localPeer: String
  let cancellation: StreamCancellation
  let transportSpecific: NGHTTP2StreamContext
  let outbox: ConnectionOutbox
  let streamID: Int32
}

/// What a handler can ask of its stream beyond GRPCCore's contract
/// (`ServerContext.transportSpecific`).
public struct NGHTTP2StreamContext: ServerContext.TransportSpecific {
  private let outbox: ConnectionOutbox
  private let streamID: Int32
  private let resetAfter: @Sendable (TimeAmount, String) -> Void

  init(outbox: ConnectionOutbox, streamID: Int32, resetAfter: @escaping @Sendable (TimeAmount, String) -> Void) {
    self.outbox = outbox
    self.streamID = streamID
    self.resetAfter = resetAfter
  }

  /// Sends the response messages `source` returns, pulled on the
  /// connection's event loop after each call of the returned signal, while
  /// the stream has room (below the transport's high-water mark; past it,
  /// once the peer takes enough). For a server stream whose messages come
  /// from elsewhere: no task wakes per message, and the messages of every
  /// stream signalled before a drain go out in one write.
  ///
  /// `source` runs on the event loop, so it must be quick and must not
  /// block. The handler still writes its own status (after taking what the
  /// source has left, so that nothing is sent after it).
  public func pull(from source: @escaping @Sendable () -> [[UInt8]]) -> @Sendable () -> Void {
    outbox.attach(source, to: streamID)
    return { [outbox, streamID] in outbox.signal(streamID) }
  }

  /// Resets the stream (RST_STREAM CANCEL) `delay` from now if it is still
  /// open then: for a response the client may never take (it stopped
  /// reading), so that neither the stream nor its writer lingers.
  public func reset(after delay: Duration, reason: String) {
    resetAfter(TimeAmount(delay), reason)
  }
}

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
  private let resetAfter: @Sendable (TimeAmount, String) -> Void

  init(resetAfter: @escaping @Sendable (TimeAmount, String) -> Void) {
    self.resetAfter = resetAfter
  }

  /// Resets the stream (RST_STREAM CANCEL) `delay` from now if it is still
  /// open then: for a response the client may never take (it stopped
  /// reading), so that neither the stream nor its writer lingers.
  public func reset(after delay: Duration, reason: String) {
    resetAfter(TimeAmount(delay), reason)
  }
}

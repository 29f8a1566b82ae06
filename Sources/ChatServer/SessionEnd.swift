import ChatAPI
import GRPCCore

/// Why a Connect stream ended.
public enum SessionEnd: Sendable, Equatable {
  /// The client cancelled or its connection went away.
  case disconnected
  /// The operator kicked the user.
  case kicked(reason: String)
  /// The session's queue passed its byte limit: the client reads too slowly.
  case slowConsumer(queuedBytes: Int)
  /// The server is shutting down.
  case shutdown

  /// What the remaining members of the user's groups are told.
  var leaveReason: Chat_V1_LeaveReason {
    if case .kicked = self { return .kicked }
    return .disconnected
  }

  /// A short name for logs and stats.
  public var label: String {
    switch self {
    case .disconnected: "disconnected"
    case .kicked: "kicked"
    case .slowConsumer: "slow_consumer"
    case .shutdown: "shutdown"
    }
  }

  /// The status the Connect stream ends with (nil: the client is gone, there
  /// is nobody to tell).
  var rpcError: RPCError? {
    switch self {
    case .disconnected:
      nil
    case .kicked(let reason):
      RPCError(
        code: .permissionDenied,
        message: reason.isEmpty ? "kicked by the operator." : "kicked by the operator: \(reason)")
    case .slowConsumer(let bytes):
      RPCError(
        code: .resourceExhausted,
        message: "slow consumer: \(bytes) bytes of events were queued for this session, more than the server holds.")
    case .shutdown:
      RPCError(code: .unavailable, message: "the server is shutting down.")
    }
  }
}

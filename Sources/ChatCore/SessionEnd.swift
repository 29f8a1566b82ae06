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
  /// The account signed out with the token this session was opened with.
  case signedOut

  /// What the remaining members of the user's groups are told.
  var leaveReason: LeaveReason {
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
    case .signedOut: "signed_out"
    }
  }
}

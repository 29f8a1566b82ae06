import ChatCore
import GRPCCore

/// The one place core failures become gRPC statuses.
extension ChatError: RPCErrorConvertible {
  public var rpcErrorCode: RPCError.Code {
    switch self {
    case .invalidName, .invalidText, .invalidChannelType, .emptyChannelName, .invalidPassword, .historyBothCursors,
      .historyLimit:
      .invalidArgument
    case .missingAuthorization, .unknownCaller, .unknownSessionToken, .sessionEnded, .nameRegistered, .badCredentials,
      .invalidToken, .tokenRevoked:
      .unauthenticated
    case .tooManySessions, .tooManyGroups, .tooManyGroupsForUser, .rateLimited, .signInThrottled,
      .tooManySessionsForUser, .busyHashing:
      .resourceExhausted
    case .userAlreadyConnected, .groupAlreadyExists, .alreadyMember, .nameTaken: .alreadyExists
    case .noSuchUser, .noSuchGroup: .notFound
    case .notMemberCannotLeave, .notSignedIn: .failedPrecondition
    case .notMemberCannotSend, .notMemberCannotRead, .notMemberCannotList, .connectNameMismatch: .permissionDenied
    case .shuttingDown, .storeUnavailable: .unavailable
    }
  }

  public var rpcErrorMessage: String { message }

  /// gRPC clients may read this to back off (milliseconds, as in gRFC A6's retry pushback).
  public var rpcErrorMetadata: Metadata {
    let retryAfter: Duration
    switch self {
    case .rateLimited(_, _, let after), .signInThrottled(_, let after): retryAfter = after
    default: return [:]
    }
    let milliseconds = retryAfter.components.seconds * 1000 + retryAfter.components.attoseconds / 1_000_000_000_000_000
    return ["grpc-retry-pushback-ms": "\(max(1, milliseconds))"]
  }
}

extension SessionEnd {
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
    case .signedOut:
      RPCError(code: .unauthenticated, message: "signed out: the token this stream was opened with was revoked.")
    }
  }
}

extension RPCError.Code {
  /// The code as gRPC's specification spells it (`ALREADY_EXISTS`), for logs.
  public var grpcName: String {
    Self.names.indices.contains(rawValue) ? Self.names[rawValue] : "CODE_\(rawValue)"
  }

  private static let names = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  ]
}

extension RPCError {
  /// The status a thrown error becomes, as grpc-swift maps it.
  init(converting error: any Error) {
    switch error {
    case let error as RPCError: self = error
    case let error as any RPCErrorConvertible: self.init(error)
    default: self.init(code: .unknown, message: "\(error)")
    }
  }
}

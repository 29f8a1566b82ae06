import ChatAuth
import ChatCore
import GRPCCore
import Logging

/// Logs every call that fails (at info, with its status code and message) and
/// every call that succeeds (at debug). Neither message text nor credentials
/// are ever logged: the user is the authenticated caller, or in username mode
/// the name a refused call claimed.
public struct RequestLogInterceptor: ServerInterceptor {
  let logger: Logger
  let mode: AuthMode

  public init(logger: Logger, mode: AuthMode) {
    self.logger = logger
    self.mode = mode
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let record = CallRecord()
    do {
      let response = try await CallRecord.$current.withValue(record) { try await next(request, context) }
      if case .failure(let error) = response.accepted {
        logFailure(error, context: context, request: request.metadata, record: record)
      } else {
        logger.debug(
          "rpc accepted",
          metadata: [
            "method": "\(context.descriptor.method)", "user": "\(user(record, request.metadata))",
            "duration": "\(ContinuousClock.now - start)",
          ])
      }
      return response
    } catch {
      logFailure(RPCError(converting: error), context: context, request: request.metadata, record: record)
      throw error
    }
  }

  /// Who the call is, printable (computed only when logged).
  private func user(_ record: CallRecord, _ metadata: Metadata) -> String {
    if let caller = record.caller { return caller.user.display }
    // A session token is a credential: only a claimed username is shown.
    guard mode == .username, let claimed = AuthInterceptor.credential(in: metadata) else { return "-" }
    // An account's token (or anything longer than a name could be) is a credential too.
    guard claimed.count <= ChatName.maxLength, !AccessToken.looksLikeToken(claimed) else { return "-" }
    return ChatName(claimed)?.display ?? quoted(claimed)
  }

  private func logFailure(_ error: RPCError, context: ServerContext, request: Metadata, record: CallRecord) {
    var metadata: Logger.Metadata = [
      "method": "\(context.descriptor.method)", "user": "\(user(record, request))",
      "peer": "\(PeerAddress(grpcPeer: context.remotePeer))", "code": "\(error.code.grpcName)",
      "error": "\(error.message)",
    ]
    if let caller = record.caller {
      metadata["session"] = caller.session.map { "\($0)" } ?? "account"
    }
    logger.info("rpc failed", metadata: metadata)
  }
}

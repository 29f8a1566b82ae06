import ChatAPI
import GRPCCore
import Logging

/// Logs every call that fails (at info, with its status code and message) and
/// every call that succeeds (at debug). Message text is never logged.
public struct RequestLogInterceptor: ServerInterceptor {
  let logger: Logger

  public init(logger: Logger) {
    self.logger = logger
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let method = context.descriptor.method
    do {
      let response = try await next(request, context)
      if case .failure(let error) = response.accepted {
        logFailure(error, method: method, request: request.metadata, peer: context.remotePeer)
      } else {
        logger.debug(
          "rpc accepted",
          metadata: [
            "method": "\(method)", "user": "\(Self.user(in: request.metadata))",
            "duration": "\(ContinuousClock.now - start)",
          ])
      }
      return response
    } catch {
      logFailure(RPCError(converting: error), method: method, request: request.metadata, peer: context.remotePeer)
      throw error
    }
  }

  /// Who the call claims to be, printable (computed only when logged).
  private static func user(in metadata: Metadata) -> String {
    AuthInterceptor.credential(in: metadata).map { ChatName($0)?.display ?? quoted($0) } ?? "-"
  }

  private func logFailure(_ error: RPCError, method: String, request: Metadata, peer: String) {
    logger.info(
      "rpc failed",
      metadata: [
        "method": "\(method)", "user": "\(Self.user(in: request))", "peer": "\(peer)",
        "code": "\(error.code)", "error": "\(error.message)",
      ])
  }
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

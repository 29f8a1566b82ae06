import ChatAPI
import ChatCore
import GRPCCore
import Logging

/// The chat service with its interceptors, on any transport: HTTP/2 in the
/// server, in-process in tests.
public enum ChatGRPCServer {
  /// A server for `transport` serving the chat service and `otherServices`
  /// (health, reflection), which skip authentication and the request log.
  public static func make<Transport: ServerTransport>(
    transport: Transport,
    registry: ChatRegistry,
    logger: Logger,
    auth: AuthMode,
    maxRequestBytes: Int,
    endGrace: Duration = .seconds(2),
    streamCloser: StreamCloser? = nil,
    accounts: AccountServices = AccountServices(),
    otherServices: [any RegistrableRPCService] = []
  ) -> GRPCServer<Transport> {
    // Connect neither authenticates (it names its user) nor goes through the
    // request log (ChatService logs its failures): interceptor frames stay in
    // every open stream's task for its whole life, 6 KiB per idle session.
    typealias Method = Chat_V1_ChatService.Method
    let chatCalls = Set(Method.descriptors.filter { $0 != Method.Connect.descriptor })
    // SignUp and SignIn are how a caller gets a credential.
    let authenticated = chatCalls.subtracting([Method.SignUp.descriptor, Method.SignIn.descriptor])
    return GRPCServer(
      transport: transport,
      services: [
        ChatService(
          registry: registry, logger: logger, maxRequestBytes: maxRequestBytes, endGrace: endGrace,
          streamCloser: streamCloser, accounts: accounts)
      ] + otherServices,
      interceptorPipeline: [
        .apply(RequestLogInterceptor(logger: logger, mode: auth), to: .methods(chatCalls)),
        .apply(AuthInterceptor(registry: registry, mode: auth, accounts: accounts), to: .methods(authenticated)),
      ]
    )
  }
}

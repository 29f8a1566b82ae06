import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// What the server is started with, already validated (by `chat-server`'s
/// options, or by a test).
public struct ChatServerConfiguration: Sendable {
  public var host = "127.0.0.1"
  /// 0 picks a free port.
  public var port = 50051
  /// A session whose unsent events pass this many bytes is ended.
  public var maxQueueBytes = ChatRegistry.defaultMaxQueueBytes
  /// Stop on SIGINT and SIGTERM (tests leave them alone).
  public var handleSignals = true
  /// How long graceful shutdown may take before open calls are cancelled.
  public var shutdownTimeout: Duration = .seconds(3)
  /// The operator console on stdin and stdout; nil runs none (tests do not).
  public var console: ConsoleConfiguration?

  public init() {}
}

/// The chat server: registry, gRPC server and operator console, run as one
/// `ServiceGroup`. `chat-server` and the tests both build it.
public final class ChatApplication: Sendable {
  public let registry: ChatRegistry
  public let configuration: ChatServerConfiguration
  private let transport: HTTP2ServerTransport.Posix
  private let server: GRPCServer<HTTP2ServerTransport.Posix>
  private let group: ServiceGroup

  public init(configuration: ChatServerConfiguration, logger: Logger) {
    self.configuration = configuration
    let registry = ChatRegistry(logger: logger, maxQueueBytes: configuration.maxQueueBytes)
    self.registry = registry
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: configuration.host, port: configuration.port),
      transportSecurity: .plaintext
    )
    self.transport = transport
    let server = GRPCServer(
      transport: transport,
      services: [ChatService(registry: registry, logger: logger)],
      interceptors: [RequestLogInterceptor(logger: logger), AuthInterceptor(registry: registry)]
    )
    self.server = server

    var serviceConfiguration = ServiceGroupConfiguration(
      services: [
        .init(
          service: GRPCServerService(server: server, transport: transport, registry: registry, logger: logger),
          successTerminationBehavior: .gracefullyShutdownGroup,
          failureTerminationBehavior: .gracefullyShutdownGroup)
      ],
      gracefulShutdownSignals: configuration.handleSignals ? [.sigterm, .sigint] : [],
      logger: logger
    )
    if let console = configuration.console {
      // Last, so graceful shutdown stops it first; it returns early only
      // for its `shutdown` command, which shuts the group down.
      serviceConfiguration.services.append(
        .init(
          service: ConsoleService(
            console: OperatorConsole(registry: registry, logger: logger), configuration: console, logger: logger,
            serverListening: { _ = try await transport.listeningAddress }),
          successTerminationBehavior: .gracefullyShutdownGroup,
          failureTerminationBehavior: .gracefullyShutdownGroup))
    }
    serviceConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
    self.group = ServiceGroup(configuration: serviceConfiguration)
  }

  /// Runs until shut down (signal, `shutdown()`, or cancellation).
  public func run() async throws {
    try await group.run()
  }

  /// The same graceful shutdown as SIGTERM: open streams end UNAVAILABLE.
  public func shutdown() async {
    await group.triggerGracefulShutdown()
  }

  /// The bound address, once the server listens.
  public func listeningAddress() async throws -> (host: String, port: Int) {
    let address = try await transport.listeningAddress
    if let ipv4 = address.ipv4 { return (ipv4.host, ipv4.port) }
    if let ipv6 = address.ipv6 { return (ipv6.host, ipv6.port) }
    return ("\(address)", 0)
  }
}

/// Serves gRPC until graceful shutdown, which ends every session first:
/// grpc-swift waits for open calls forever, and Connect calls never end on
/// their own.
struct GRPCServerService: Service {
  let server: GRPCServer<HTTP2ServerTransport.Posix>
  let transport: HTTP2ServerTransport.Posix
  let registry: ChatRegistry
  let logger: Logger

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await server.serve() }
        if let address = try await transport.listeningAddress.ipv4 {
          logger.notice(
            "listening on \(address.host):\(address.port)",
            metadata: ["host": "\(address.host)", "port": "\(address.port)"])
        }
      }
    } onGracefulShutdown: {
      logger.notice("shutting down")
      // Sessions first: grpc-swift's graceful shutdown cancels every open
      // RPC, which would otherwise end them as disconnected, with status OK.
      registry.shutdown()
      server.beginGracefulShutdown()
    }
  }
}

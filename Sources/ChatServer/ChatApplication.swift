import ChatAuth
import ChatConsole
import ChatCore
import ChatGRPC
import ChatStore
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCOperability
import Logging
import NGHTTP2Transport
import NIOCore
import ServiceLifecycle

/// The chat server: a `Service` composed of injected services, run as one
/// `ServiceGroup` that handles SIGINT and SIGTERM. Adding a front end or a
/// store writer is adding a service. `chat-server` and the tests both build
/// it with `init(configuration:logger:)`.
public final class ChatApplication: Service, Sendable {
  public let registry: ChatRegistry
  private let group: ServiceGroup
  private let listening: @Sendable () async throws -> ListeningAddress

  /// The services, in start order; graceful shutdown stops them in reverse:
  /// the console first, then the registry (ending every session), then the
  /// front ends.
  public init(
    registry: ChatRegistry,
    services: [any Service],
    listening: @escaping @Sendable () async throws -> ListeningAddress,
    handleSignals: Bool,
    shutdownTimeout: Duration,
    logger: Logger
  ) {
    self.registry = registry
    self.listening = listening
    var configuration = ServiceGroupConfiguration(
      services: services.map {
        .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
      },
      gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
      logger: logger
    )
    configuration.maximumGracefulShutdownDuration = shutdownTimeout
    self.group = ServiceGroup(configuration: configuration)
  }

  /// The standard server: the registry on its store, gRPC over HTTP/2, and
  /// the console if configured. Throws `StoreError` when the store cannot be
  /// opened (locked by another server, damaged, or not a chat store).
  public convenience init(configuration: ChatServerConfiguration, logger: Logger) throws {
    let registry: ChatRegistry
    var storeServices: [any Service] = []
    switch configuration.store {
    case .memory:
      registry = ChatRegistry(logger: logger, limits: configuration.limits, lobby: configuration.lobby)
    case .sqlite(let directory):
      let store = try SQLiteStore.open(
        SQLiteStore.Configuration(
          directory: directory, retention: Retention(messagesPerChannel: configuration.limits.historyLimit)),
        logger: logger)
      do {
        registry = try ChatRegistry(
          logger: logger, limits: configuration.limits, lobby: configuration.lobby, store: store,
          format: ProtobufEventEncoding.self)
      } catch {
        Task { await store.close() }
        throw error
      }
      // First in the group, so it closes last: after the registry has stored its final positions.
      storeServices.append(StoreService(store: store, logger: logger))
    }
    let accounts = AccountServices(
      hasher: PasswordHasher(parameters: configuration.passwordHashing),
      tokenLifetime: configuration.limits.tokenLifetime, jwt: configuration.jwtVerifier)
    switch configuration.transport {
    case .nio:
      var transportConfig = configuration.transportConfig
      let silence = TimeAmount(configuration.keepaliveInterval + configuration.keepaliveTimeout)
      transportConfig.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
        SilentConnectionCloser.install(on: channel, silence: silence, logger: logger)
      }
      let streamCloser = StreamCloser(paths: ["/chat.v1.ChatService/Connect"], logger: logger)
      transportConfig.channelDebuggingCallbacks.onAcceptHTTP2Stream = { channel in
        streamCloser.install(on: channel)
      }
      let transport = HTTP2ServerTransport.Posix(
        address: configuration.host.contains(":")
          ? .ipv6(host: configuration.host, port: configuration.port)
          : .ipv4(host: configuration.host, port: configuration.port),
        transportSecurity: configuration.transportSecurity,
        config: transportConfig
      )
      let listening: @Sendable () async throws -> ListeningAddress = {
        let address = try await transport.listeningAddress
        if let ipv4 = address.ipv4 { return ListeningAddress(host: ipv4.host, port: ipv4.port) }
        if let ipv6 = address.ipv6 { return ListeningAddress(host: ipv6.host, port: ipv6.port) }
        return ListeningAddress(host: "\(address)", port: 0)
      }
      self.init(
        configuration: configuration, registry: registry, transport: transport, streamCloser: streamCloser,
        accounts: accounts, storeServices: storeServices, listening: listening, logger: logger)
    case .nghttp2:
      // Keepalive, the silent-peer close and stream resets are the transport's own.
      let transport = NGHTTP2ServerTransport(config: configuration.nghttp2Config, logger: logger)
      let listening: @Sendable () async throws -> ListeningAddress = {
        let address = try await transport.listeningAddress
        return ListeningAddress(host: address.ipAddress ?? "\(address)", port: address.port ?? 0)
      }
      self.init(
        configuration: configuration, registry: registry, transport: transport, streamCloser: nil,
        accounts: accounts, storeServices: storeServices, listening: listening, logger: logger)
    }
  }

  private convenience init<Transport: ServerTransport>(
    configuration: ChatServerConfiguration, registry: ChatRegistry, transport: Transport,
    streamCloser: StreamCloser?, accounts: AccountServices, storeServices: [any Service],
    listening: @escaping @Sendable () async throws -> ListeningAddress, logger: Logger
  ) {
    // Health and reflection (for grpcurl, grpcui, Postman, Kreya) skip
    // authentication, the rate limit and the request log.
    let health = HealthService()
    // The descriptor set is generated with the code and checked by its tests.
    let reflection = try! ReflectionService(fileDescriptorSet: ChatDescriptorSet.serialized)
    let server = ChatGRPCServer.make(
      transport: transport, registry: registry, logger: logger, auth: configuration.auth,
      maxRequestBytes: configuration.maxRequestBytes, endGrace: configuration.endGrace,
      streamCloser: streamCloser, accounts: accounts, otherServices: [health, reflection])
    var services: [any Service] = storeServices + [
      GRPCServerService(
        server: server, requested: (configuration.host, configuration.port), logger: logger,
        listeningAddress: listening,
        onListening: { _ in
          health.setStatus(.serving, forService: "")
          health.setStatus(.serving, forService: "chat.v1.ChatService")
        }),
      // NOT_SERVING from the moment shutdown begins; open Watch calls end.
      RegistryService(registry: registry, onShutdown: { health.shutDown() }),
    ]
    if let console = configuration.console {
      // Last, so graceful shutdown stops it first; it returns early only
      // for its `shutdown` command, which shuts the group down.
      services.append(
        ConsoleService(
          console: OperatorConsole(registry: registry, logger: logger), configuration: console, logger: logger,
          serverListening: { _ = try await listening() }))
    }
    self.init(
      registry: registry, services: services, listening: listening, handleSignals: configuration.handleSignals,
      shutdownTimeout: configuration.shutdownTimeout, logger: logger)
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
    let address = try await listening()
    return (address.host, address.port)
  }
}

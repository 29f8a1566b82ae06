import ChatAPI
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import ServiceLifecycle

/// What the server is started with, already validated (by `chat-server`'s
/// options, or by a test).
public struct ChatServerConfiguration: Sendable {
  public var host = "127.0.0.1"
  /// 0 picks a free port.
  public var port = 50051
  public var limits = RegistryLimits()
  public var auth = AuthMode.username
  /// Serve over TLS with these PEM files; nil serves plaintext.
  public var tls: TLSFiles?
  /// Request messages larger than this are RESOURCE_EXHAUSTED, before
  /// decoding: a few KiB above the largest valid one (a 4096-byte message).
  /// The transport resets streams announcing more than four times this.
  public var maxRequestBytes = 8 * 1024
  /// The HTTP/2 concurrent-stream cap per connection.
  public var maxStreamsPerConnection = 1_000
  /// The server pings a connection this long after it last read from it...
  public var keepaliveInterval: Duration = .seconds(30)
  /// ...and closes it if the ping is not answered within this (see `SilentConnectionCloser`).
  public var keepaliveTimeout: Duration = .seconds(10)
  /// Stop on SIGINT and SIGTERM (tests leave them alone).
  public var handleSignals = true
  /// How long graceful shutdown may take before open calls are cancelled.
  public var shutdownTimeout: Duration = .seconds(3)
  /// The operator console on stdin and stdout; nil runs none (tests do not).
  public var console: ConsoleConfiguration?

  public init() {}

  /// The HTTP/2 transport settings these options make.
  var transportConfig: HTTP2ServerTransport.Posix.Config {
    var config = HTTP2ServerTransport.Posix.Config.defaults
    config.rpc.maxRequestPayloadSize = 4 * maxRequestBytes
    config.http2.maxConcurrentStreams = maxStreamsPerConnection
    config.connection.keepalive.time = keepaliveInterval
    config.connection.keepalive.timeout = keepaliveTimeout
    // Clients keep a Connect stream open, so they may ping while it lasts;
    // more often than every 10 s counts as a strike, and repeated strikes
    // close the connection with GOAWAY ENHANCE_YOUR_CALM (gRFC A8).
    config.connection.keepalive.clientBehavior = .init(
      minPingIntervalWithoutCalls: .seconds(10), allowWithoutCalls: false)
    return config
  }

  var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
    guard let tls else { return .plaintext }
    return .tls(
      certificateChain: [.file(path: tls.certificateChain, format: .pem)],
      privateKey: .file(path: tls.privateKey, format: .pem))
  }
}

/// PEM files for TLS.
public struct TLSFiles: Sendable {
  public var certificateChain: String
  public var privateKey: String

  public init(certificateChain: String, privateKey: String) {
    self.certificateChain = certificateChain
    self.privateKey = privateKey
  }
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
    let registry = ChatRegistry(logger: logger, limits: configuration.limits)
    self.registry = registry
    var transportConfig = configuration.transportConfig
    let silence = TimeAmount(configuration.keepaliveInterval + configuration.keepaliveTimeout)
    transportConfig.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
      SilentConnectionCloser.install(on: channel, silence: silence, logger: logger)
    }
    let transport = HTTP2ServerTransport.Posix(
      address: configuration.host.contains(":")
        ? .ipv6(host: configuration.host, port: configuration.port)
        : .ipv4(host: configuration.host, port: configuration.port),
      transportSecurity: configuration.transportSecurity,
      config: transportConfig
    )
    self.transport = transport
    // Connect neither authenticates (it names its user) nor goes through the
    // request log (ChatService logs its failures): interceptor frames stay in
    // every open stream's task for its whole life, 6 KiB per idle session.
    let unaryCalls = ConditionalInterceptor<any ServerInterceptor>.Subject.allExcluding(
      services: [], methods: [Chat_V1_ChatService.Method.Connect.descriptor])
    let server = GRPCServer(
      transport: transport,
      services: [ChatService(registry: registry, logger: logger, maxRequestBytes: configuration.maxRequestBytes)],
      interceptorPipeline: [
        .apply(RequestLogInterceptor(logger: logger), to: unaryCalls),
        .apply(AuthInterceptor(registry: registry, mode: configuration.auth), to: unaryCalls),
      ]
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
        let address = try await transport.listeningAddress
        let (host, port) = address.ipv4.map { ($0.host, $0.port) } ?? address.ipv6.map { ("[\($0.host)]", $0.port) } ?? ("\(address)", 0)
        logger.notice("listening on \(host):\(port)", metadata: ["host": "\(host)", "port": "\(port)"])
      }
    } onGracefulShutdown: {
      logger.notice("shutting down")
      // Sessions first: quiescing the transport cancels every open call,
      // which would end Connect streams as plain disconnects.
      registry.shutdown()
      server.beginGracefulShutdown()
    }
  }
}

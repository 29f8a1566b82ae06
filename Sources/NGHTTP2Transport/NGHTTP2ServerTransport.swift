import GRPCCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A GRPCCore server transport whose HTTP/2 is libnghttp2, on SwiftNIO's
/// sockets and event loops (and NIOSSL for TLS).
///
/// Each connection is one channel with one `NGHTTP2ConnectionHandler`; each
/// request stream is one GRPCCore stream run by a task of `listen`'s (in one
/// of its task groups, chosen by connection and by whether the call is unary).
/// Handlers' writes are batched per connection and event-loop turn.
public final class NGHTTP2ServerTransport: ServerTransport {
  public typealias Bytes = [UInt8]

  public struct Config: Sendable {
    public var host: String
    public var port: Int
    /// PEM files; nil serves plaintext (h2c with prior knowledge).
    public var tls: TLS?
    public var maxConcurrentStreams = 100
    /// A request message announcing more is RESOURCE_EXHAUSTED, unbuffered.
    public var maxRequestPayloadSize = 4 * 1024 * 1024
    public var maxHeaderListSize = 16 * 1024
    public var initialWindowSize = 64 * 1024
    /// The server pings a connection it has read nothing from for this long...
    public var keepaliveInterval = TimeAmount.hours(2)
    /// ...and closes it if nothing comes back within this.
    public var keepaliveTimeout = TimeAmount.seconds(20)
    /// Pings closer together than this are strikes (gRFC A8)...
    public var minPingInterval = TimeAmount.minutes(5)
    public var allowPingsWithoutCalls = false
    /// ...and more strikes than this close the connection (GOAWAY ENHANCE_YOUR_CALM).
    public var maxPingStrikes = 2
    /// Rapid-reset protection: a token bucket of peer RST_STREAMs.
    public var maxResetBurst = 200
    public var maxResetRate = 20
    /// A finished response still unsent this long after the handler ended is
    /// reset (its client stopped reading); nil keeps it.
    public var finishedStreamGrace: TimeAmount?
    /// A stream's writer waits while more than this is unsent.
    public var streamHighWater = 64 * 1024
    /// Graceful shutdown's GOAWAY notice waits this long at most for its ping.
    public var shutdownPingTimeout = TimeAmount.seconds(1)

    public init(host: String, port: Int) {
      self.host = host
      self.port = port
    }
  }

  public struct TLS: Sendable {
    public var certificateChainPath: String
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
      self.certificateChainPath = certificateChainPath
      self.privateKeyPath = privateKeyPath
    }
  }

  private struct Connection: Sendable {
    let shutDown: @Sendable () -> Void
    let closeNow: @Sendable () -> Void
  }

  private struct State {
    var serverChannel: (any Channel)?
    var connections: [UInt64: Connection] = [:]
    var nextConnection: UInt64 = 0
    var shuttingDown = false
    var serverClosed = false
    var finishStreams: (@Sendable () -> Void)?
    /// The server's methods by `:path`, with their RPC types (`configure(context:)`).
    var methods: [String: MethodDescriptor] = [:]

    /// Finishes the accepted-stream sequence once nothing can add to it.
    mutating func finishIfDone() -> (@Sendable () -> Void)? {
      guard serverClosed, connections.isEmpty else { return nil }
      return finishStreams.take()
    }
  }

  /// How many task groups run streaming calls, and as many run unary ones;
  /// a connection's calls of each kind all go to the same one. Why not one
  /// group: the Swift runtime walks a group's list of children to add and
  /// remove one, and Connect streams stay open, so in one group every call
  /// paid for every session: a direct-message flood spent 1.8 % of its CPU
  /// in `TaskGroup::removeChildTask` with 200 sessions, 6.3 % with 2,000.
  /// Spread over 256 groups it was still 1.6 % with 10,000 sessions (about
  /// 39 streams a group), so unary calls, short-lived, have groups of their
  /// own. 256 idle groups cost about 0.9 MB, once.
  static let streamGroups = 256

  private let config: Config
  private let logger: Logger
  private let group: any EventLoopGroup
  private let state = Mutex(State())
  private let address: EventLoopPromise<SocketAddress>

  public init(config: Config, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
    self.config = config
    self.logger = logger
    self.group = group
    self.address = group.any().makePromise(of: SocketAddress.self)
  }

  /// The bound address, once listening (throws if binding failed).
  public var listeningAddress: SocketAddress {
    get async throws { try await address.futureResult.get() }
  }

  /// GRPCCore's own descriptors (they carry the RPC type, which interceptor
  /// and router lookups compare).
  public func configure(context: GRPCServerContext) {
    state.withLock { state in
      for method in context.methods { state.methods["/" + method.fullyQualifiedMethod] = method }
    }
  }

  public func listen(
    streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
  ) async throws {
    // Streaming calls' queues, then unary calls'.
    let accepted = (0..<2 * Self.streamGroups).map { _ in SingleConsumerQueue<AcceptedStream>() }
    state.withLock { $0.finishStreams = { for queue in accepted { queue.finish() } } }
    let server: any Channel
    do {
      let sslContext = try config.tls.map(Self.makeSSLContext)
      server = try await bootstrap(sslContext: sslContext, accepted: accepted)
        .bind(host: config.host, port: config.port).get()
    } catch {
      address.fail(error)
      for queue in accepted { queue.finish() }
      throw error
    }
    let closeAtOnce = state.withLock { state in
      state.serverChannel = server
      return state.shuttingDown
    }
    address.succeed(server.localAddress!)
    server.closeFuture.whenComplete { _ in
      self.state.withLock { state in
        state.serverClosed = true
        return state.finishIfDone()
      }?()
    }
    if closeAtOnce { server.close(promise: nil) }

    await withTaskCancellationHandler {
      await withDiscardingTaskGroup { groups in
        for queue in accepted {
          groups.addTask {
            await withDiscardingTaskGroup { group in
              // Ends when the queue is finished (nothing can add to it) or this task is cancelled.
              while let stream = try? await queue.next() {
                group.addTask { await Self.serve(stream, with: streamHandler) }
              }
            }
          }
        }
      }
    } onCancel: {
      self.closeEverything()
    }
  }

  /// Runs the handler of one accepted stream, then ends the stream if the handler left it open.
  private static func serve(
    _ stream: AcceptedStream,
    with streamHandler: @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
  ) async {
    await withServerContextRPCCancellationHandle { handle in
      stream.cancellation.attach(handle)
      var context = ServerContext(
        descriptor: stream.stream.descriptor, remotePeer: stream.remotePeer, localPeer: stream.localPeer,
        cancellation: handle)
      context.transportSpecific = stream.transportSpecific
      await streamHandler(stream.stream, context)
      await stream.outbox.endIfUnfinished(stream.streamID)
    }
  }

  public func beginGracefulShutdown() {
    let (server, connections) = state.withLock { state in
      state.shuttingDown = true
      return (state.serverChannel, Array(state.connections.values))
    }
    server?.close(promise: nil)
    for connection in connections { connection.shutDown() }
  }

  private func closeEverything() {
    let (server, connections) = state.withLock { state in
      state.shuttingDown = true
      return (state.serverChannel, Array(state.connections.values))
    }
    server?.close(promise: nil)
    for connection in connections { connection.closeNow() }
  }

  private func bootstrap(
    sslContext: NIOSSLContext?, accepted: [SingleConsumerQueue<AcceptedStream>]
  ) -> ServerBootstrap {
    let config = config
    let logger = logger
    return ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [weak self] channel in
        channel.eventLoop.makeCompletedFuture {
          guard let self else { throw ChannelError.ioOnClosedChannel }
          if let sslContext {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
          }
          let id = self.state.withLock { state in
            defer { state.nextConnection += 1 }
            return state.nextConnection
          }
          let methods = self.state.withLock { $0.methods }
          let group = Int(id % UInt64(Self.streamGroups))
          let (streaming, unary) = (accepted[group], accepted[Self.streamGroups + group])
          let handler = NGHTTP2ConnectionHandler(
            config: config, logger: logger, methods: methods,
            accept: { stream in (stream.stream.descriptor.type == .unary ? unary : streaming).yield(stream) },
            onClose: { [weak self] in self?.connectionClosed(id) })
          let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
          let loop = channel.eventLoop
          let shuttingDown = self.state.withLock { state in
            state.connections[id] = Connection(
              shutDown: { loop.execute { bound.value.beginGracefulShutdown() } },
              closeNow: { loop.execute { bound.value.closeNow() } })
            return state.shuttingDown
          }
          try channel.pipeline.syncOperations.addHandler(handler)
          if shuttingDown { loop.execute { bound.value.beginGracefulShutdown() } }
        }
      }
  }

  private func connectionClosed(_ id: UInt64) {
    state.withLock { state in
      state.connections[id] = nil
      return state.finishIfDone()
    }?()
  }

  private static func makeSSLContext(_ tls: TLS) throws -> NIOSSLContext {
    let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map { NIOSSLCertificateSource.certificate($0) }
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)))
    configuration.applicationProtocols = ["h2"]
    return try NIOSSLContext(configuration: configuration)
  }
}

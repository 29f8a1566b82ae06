import ChatAuth
import ChatConsole
import Foundation
import ChatCore
import GRPCNIOTransportHTTP2
import NGHTTP2Transport
import NIOCore

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
  /// How long a session the server ended may take to write its last events
  /// and status before its stream is reset (a client that stopped reading).
  public var endGrace: Duration = .seconds(2)
  /// How long graceful shutdown may take before open calls are cancelled.
  public var shutdownTimeout: Duration = .seconds(3)
  /// The operator console on stdin and stdout; nil runs none (tests do not).
  public var console: ConsoleConfiguration?
  /// Where accounts, groups and the log are kept. Tests default to memory;
  /// `chat-server` defaults to SQLite in ./chat-data.
  public var store = StoreChoice.memory
  /// scrypt's cost for account passwords (tests use a cheap one).
  public var passwordHashing = PasswordHasher.Parameters.owasp
  /// `--lobby`: a permanent group every session joins on Connect.
  public var lobby: ChatName?
  /// `--jwt-key`: also accept `Bearer <JWT>` signed with this key.
  public var jwtVerifier: JWTVerifier?
  /// The HTTP/2 transport; `CHAT_TEST_TRANSPORT` (nio or nghttp2) overrides
  /// the default, so the whole suite runs against either.
  public var transport: ServerTransportKind = ServerTransportKind.fromEnvironment ?? .nghttp2

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

  /// The nghttp2 transport's settings these options make (the same policy as `transportConfig`).
  var nghttp2Config: NGHTTP2ServerTransport.Config {
    var config = NGHTTP2ServerTransport.Config(host: host, port: port)
    config.tls = tls.map { .init(certificateChainPath: $0.certificateChain, privateKeyPath: $0.privateKey) }
    config.maxRequestPayloadSize = 4 * maxRequestBytes
    config.maxConcurrentStreams = maxStreamsPerConnection
    config.keepaliveInterval = TimeAmount(keepaliveInterval)
    config.keepaliveTimeout = TimeAmount(keepaliveTimeout)
    config.minPingInterval = .seconds(10)
    config.allowPingsWithoutCalls = false
    // A response its client does not take is reset, as StreamCloser does on nio.
    config.finishedStreamGrace = TimeAmount(endGrace)
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


/// `--store`: where what outlives a session is kept.
public enum StoreChoice: Sendable, Equatable {
  /// Nothing outlives the process; a new log epoch at every start.
  case memory
  /// An SQLite database in this directory (created readable by its owner only).
  case sqlite(directory: String)
}

/// Which HTTP/2 implementation serves gRPC.
public enum ServerTransportKind: String, Sendable, CaseIterable {
  /// grpc-swift-nio-transport (swift-nio-http2).
  case nio
  /// libnghttp2 on SwiftNIO (`NGHTTP2Transport`).
  case nghttp2

  static var fromEnvironment: ServerTransportKind? {
    guard let value = getenv("CHAT_TEST_TRANSPORT") else { return nil }
    return ServerTransportKind(rawValue: String(cString: value))
  }
}

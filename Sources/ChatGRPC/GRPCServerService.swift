import ChatCore
import Foundation
import GRPCCore
import Logging
import NIOCore
import ServiceLifecycle

/// Serves gRPC until graceful shutdown. The registry's own service ends every
/// session before this one is shut down: grpc-swift waits for open calls,
/// and Connect calls never end on their own.
public struct GRPCServerService<Transport: ServerTransport>: Service {
  let server: GRPCServer<Transport>
  /// The bound address, once listening (throws if the server stopped first).
  let listeningAddress: @Sendable () async throws -> ListeningAddress
  /// What `--host` and `--port` asked for, to say what could not be bound.
  let requested: (host: String, port: Int)
  let logger: Logger
  /// Called once the server listens.
  let onListening: @Sendable (ListeningAddress) -> Void

  public init(
    server: GRPCServer<Transport>, requested: (host: String, port: Int), logger: Logger,
    listeningAddress: @escaping @Sendable () async throws -> ListeningAddress,
    onListening: @escaping @Sendable (ListeningAddress) -> Void = { _ in }
  ) {
    self.server = server
    self.requested = requested
    self.logger = logger
    self.listeningAddress = listeningAddress
    self.onListening = onListening
  }

  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { [requested] in
          do {
            try await server.serve()
          } catch {
            throw ListenFailure(host: requested.host, port: requested.port, error: error) ?? error
          }
        }
        // Fails only if serving did: serve() says why.
        guard let address = try? await listeningAddress() else { return }
        logger.notice("listening on \(address)", metadata: ["address": "\(address)"])
        onListening(address)
      }
    } onGracefulShutdown: {
      server.beginGracefulShutdown()
    }
  }
}

/// The server could not bind its address: said as an operator reads it.
public struct ListenFailure: Error, CustomStringConvertible {
  public let host: String
  public let port: Int
  public let reason: String

  /// nil unless `error` (or one it wraps) is a failure to bind.
  init?(host: String, port: Int, error: any Error) {
    var next: (any Error)? = error
    while let error = next {
      if let io = error as? IOError, io.description.contains("bind") || io.errnoCode == EADDRINUSE {
        self.host = host
        self.port = port
        self.reason = String(cString: strerror(io.errnoCode)).lowercased()
        return
      }
      if error is SocketAddressError {
        self.host = host
        self.port = port
        self.reason = "not an address of this machine"
        return
      }
      next = (error as? RuntimeError)?.cause ?? (error as? RPCError)?.cause
    }
    return nil
  }

  public var description: String {
    "cannot listen on \(ListeningAddress(host: host, port: port)): \(reason)"
  }
}

/// Where a server listens.
public struct ListeningAddress: Sendable, CustomStringConvertible {
  public let host: String
  public let port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

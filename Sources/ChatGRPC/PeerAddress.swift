import NIOCore

/// A peer's address as every log line shows it: `127.0.0.1:5678`, `[::1]:5678`.
struct PeerAddress: Sendable, CustomStringConvertible {
  let description: String

  /// From grpc-swift's form: `ipv4:127.0.0.1:5678`, `ipv6:[::1]:5678`, `unix:path`.
  init(grpcPeer: String) {
    if let colon = grpcPeer.firstIndex(of: ":"), ["ipv4", "ipv6"].contains(grpcPeer[..<colon]) {
      description = String(grpcPeer[grpcPeer.index(after: colon)...])
    } else {
      description = grpcPeer.isEmpty ? "-" : grpcPeer
    }
  }

  /// From NIO's.
  init(_ address: SocketAddress?) {
    guard let address, let ip = address.ipAddress, let port = address.port else {
      description = address?.pathname ?? "-"
      return
    }
    if case .v6 = address { description = "[\(ip)]:\(port)" } else { description = "\(ip):\(port)" }
  }
}

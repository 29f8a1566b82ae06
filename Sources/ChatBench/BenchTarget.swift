/// The server a benchmark runs against.
public struct BenchTarget: Sendable {
  public var host: String
  public var port: Int
  /// The server's process, when it runs on this machine: its CPU time and
  /// memory are then read from /proc.
  public var pid: Int32?
  /// How to reach a server run with `--tls-cert` (nil: plaintext).
  public var tls: BenchTLS?

  public init(host: String, port: Int, pid: Int32? = nil) {
    self.host = host
    self.port = port
    self.pid = pid
  }

  /// Parses `host:port`; nil if it is not one.
  public init?(address: String, pid: Int32? = nil) {
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
      (1...65535).contains(port)
    else { return nil }
    let host = String(address[..<colon])
    guard !host.isEmpty else { return nil }
    self.init(host: host, port: port, pid: pid)
  }

  func sample() -> ProcessSample? {
    pid.flatMap { ProcessSample.read(pid: $0) }
  }
}

/// TLS towards the server.
public enum BenchTLS: Sendable {
  /// Trust this PEM CA certificate (or the self-signed certificate itself).
  case trusting(caPath: String)
  /// Verify nothing (test certificates only).
  case insecure
}

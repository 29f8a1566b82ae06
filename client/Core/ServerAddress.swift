/// `host:port`, where host is a name, an IPv4 address or a bracketed IPv6
/// address (`[::1]:50051`).
public struct ServerAddress: Equatable, Sendable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public init?(parsing text: String) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (1...65535).contains(port)
    else { return nil }
    var host = text[..<colon]
    if host.hasPrefix("[") && host.hasSuffix("]") {
      host = host.dropFirst().dropLast()
    } else if host.contains(":") {
      return nil  // an IPv6 address needs brackets
    }
    guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else { return nil }
    self.init(host: String(host), port: port)
  }

  public var description: String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }
}

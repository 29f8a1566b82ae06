import Foundation
import GRPCCore

/// gRPC over HTTP/2's header rules (PROTOCOL-HTTP2.md), as plain functions.
enum GRPCWire {
  /// `application/grpc`, `application/grpc+proto`, `application/grpc;...`:
  /// anything else is answered with HTTP 415.
  static func isGRPCContentType(_ value: String?) -> Bool {
    guard let value = value?.lowercased(), value.hasPrefix("application/grpc") else { return false }
    let rest = value.dropFirst("application/grpc".count)
    return rest.isEmpty || rest.first == "+" || rest.first == ";"
  }

  /// `/package.Service/Method`, or nil.
  static func method(fromPath path: String) -> MethodDescriptor? {
    guard path.first == "/" else { return nil }
    let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
    return MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
  }

  /// Request headers as metadata: pseudo-headers dropped, `-bin` values
  /// decoded from base64 (one that does not decode makes the request invalid).
  static func metadata(from headers: [(name: String, value: String)]) -> Metadata? {
    var metadata = Metadata()
    for (name, value) in headers where !name.hasPrefix(":") {
      if name.hasSuffix("-bin") {
        // A comma joins several values of one key.
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
          guard let bytes = decodeBase64(part.trimmingCharacters(in: .whitespaces)) else { return nil }
          metadata.addBinary(bytes, forKey: name)
        }
      } else {
        metadata.addString(value, forKey: name)
      }
    }
    return metadata
  }

  /// Metadata as response headers or trailers (names lowercased, binary base64).
  static func headers(from metadata: Metadata, into headers: inout [(String, String)]) {
    for (key, value) in metadata {
      let name = key.lowercased()
      // Reserved names are the transport's to set.
      if name.hasPrefix(":") || name == "content-type" || name == "grpc-status" || name == "grpc-message" { continue }
      switch value {
      case .string(let string):
        headers.append((name, string))
      case .binary(let bytes):
        headers.append((name.hasSuffix("-bin") ? name : name + "-bin", Data(bytes).base64EncodedString()))
      }
    }
  }

  static func responseHeaders(metadata: Metadata) -> [(String, String)] {
    var headers: [(String, String)] = [(":status", "200"), ("content-type", "application/grpc")]
    GRPCWire.headers(from: metadata, into: &headers)
    return headers
  }

  /// Trailers; `trailersOnly` adds what a response's headers must carry.
  static func trailers(status: Status, metadata: Metadata, trailersOnly: Bool) -> [(String, String)] {
    var headers: [(String, String)] =
      trailersOnly ? [(":status", "200"), ("content-type", "application/grpc")] : []
    headers.append(("grpc-status", String(status.code.rawValue)))
    if !status.message.isEmpty { headers.append(("grpc-message", percentEncode(status.message))) }
    GRPCWire.headers(from: metadata, into: &headers)
    return headers
  }

  /// `grpc-message` is percent-encoded: bytes outside 0x20–0x7E, and `%`.
  static func percentEncode(_ message: String) -> String {
    var encoded = ""
    encoded.reserveCapacity(message.utf8.count)
    for byte in message.utf8 {
      if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
        encoded.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        let hex = Array("0123456789ABCDEF".utf8)
        encoded.unicodeScalars.append("%")
        encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
        encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
      }
    }
    return encoded
  }

  /// Standard base64, padded or not.
  static func decodeBase64(_ value: String) -> [UInt8]? {
    var padded = value
    let remainder = padded.utf8.count % 4
    if remainder == 1 { return nil }
    if remainder > 0 { padded += String(repeating: "=", count: 4 - remainder) }
    return Data(base64Encoded: padded).map { [UInt8]($0) }
  }

  /// The grpc-go form of a peer: `ipv4:127.0.0.1:5678`, `ipv6:[::1]:5678`.
  static func peer(host: String?, port: Int?, isIPv6: Bool) -> String {
    guard let host, let port else { return "unknown" }
    return isIPv6 ? "ipv6:[\(host)]:\(port)" : "ipv4:\(host):\(port)"
  }
}

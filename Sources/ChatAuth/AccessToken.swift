import Crypto
import Foundation

/// Opaque bearer tokens the server issues at SignUp and SignIn.
public enum AccessToken {
  public static let prefix = "ct_"
  /// 256 bits in base64url without padding.
  static let encodedRandomCount = 43

  /// 256 random bits, base64url without padding, prefixed "ct_" so it can't be mistaken for a
  /// session id or a username.
  public static func generate() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    return prefix + base64URL(bytes)
  }

  /// SHA-256 of the token's UTF-8: what is stored and looked up; the token itself is never
  /// stored or logged.
  public static func hash(_ token: String) -> Data {
    Data(SHA256.hash(data: Data(token.utf8)))
  }

  /// The shape of a generated token: the prefix and 43 base64url characters. Says nothing about
  /// whether it was issued.
  public static func looksLikeToken(_ value: String) -> Bool {
    guard value.hasPrefix(prefix) else { return false }
    let body = value.utf8.dropFirst(prefix.utf8.count)
    return body.count == encodedRandomCount && body.allSatisfy(isBase64URL)
  }

  static func base64URL(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
      .replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  private static func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
      true
    default:
      false
    }
  }
}

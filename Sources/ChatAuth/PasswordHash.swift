import Foundation

/// A stored password hash: what `PasswordHasher.hash` returns and `verify` reads.
///
/// The encoding is the PHC string format as UTF-8, so a stored value says how it was made and
/// hashes made with older parameters keep verifying after the default changes:
/// `$scrypt$ln=17,r=8,p=1$<salt>$<key>`, with salt (16 bytes) and key (32 bytes) in base64
/// without padding.
public struct PasswordHash: Sendable, Equatable {
  public static let saltByteCount = 16
  public static let keyByteCount = 32

  public var parameters: PasswordHasher.Parameters
  public var salt: [UInt8]
  public var key: [UInt8]

  public init(parameters: PasswordHasher.Parameters, salt: [UInt8], key: [UInt8]) {
    self.parameters = parameters
    self.salt = salt
    self.key = key
  }

  /// Parses a stored encoding; nil for anything that is not exactly this format (another
  /// algorithm, parameters out of range, wrong salt or key length).
  public init?(encoded: Data) {
    guard let text = String(data: encoded, encoding: .utf8) else { return nil }
    // "", "scrypt", "ln=17,r=8,p=1", salt, key
    let fields = text.split(separator: "$", omittingEmptySubsequences: false)
    guard fields.count == 5, fields[0].isEmpty, fields[1] == "scrypt" else { return nil }

    var values: [Substring: Int] = [:]
    for pair in fields[2].split(separator: ",", omittingEmptySubsequences: false) {
      let parts = pair.split(separator: "=", omittingEmptySubsequences: false)
      guard parts.count == 2, values[parts[0]] == nil,
        parts[1].allSatisfy(\.isASCII), let value = Int(parts[1])
      else { return nil }
      values[parts[0]] = value
    }
    guard values.count == 3, let log2N = values["ln"], let r = values["r"], let p = values["p"]
    else { return nil }
    let parameters = PasswordHasher.Parameters(log2N: log2N, r: r, p: p)
    guard parameters.isWithinLimits,
      let salt = Self.decodeBase64(fields[3]), salt.count == Self.saltByteCount,
      let key = Self.decodeBase64(fields[4]), key.count == Self.keyByteCount
    else { return nil }
    self.init(parameters: parameters, salt: salt, key: key)
  }

  public var encoded: Data {
    let p = parameters
    let text =
      "$scrypt$ln=\(p.log2N),r=\(p.r),p=\(p.p)$\(Self.encodeBase64(salt))$\(Self.encodeBase64(key))"
    return Data(text.utf8)
  }

  private static func encodeBase64(_ bytes: [UInt8]) -> String {
    var text = Data(bytes).base64EncodedString()
    while text.hasSuffix("=") { text.removeLast() }
    return text
  }

  private static func decodeBase64(_ text: Substring) -> [UInt8]? {
    guard !text.contains("=") else { return nil }
    var padded = String(text)
    while padded.utf8.count % 4 != 0 { padded += "=" }
    return Data(base64Encoded: padded).map { [UInt8]($0) }
  }
}

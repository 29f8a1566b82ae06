import ChatAPI
import ChatAuth
import ChatTestSupport
import Crypto
import Foundation
import GRPCCore
import Testing

/// An HS256 JWT, made by hand so the test does not use the verifier's own library.
func hs256(secret: [UInt8], claims: String) -> String {
  func base64URL(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
  }
  let signingInput = base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + base64URL(Array(claims.utf8))
  let signature = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: secret))
  return signingInput + "." + base64URL(signature)
}

@Suite("JWT bearer tokens (--jwt-key)")
struct JWTTests {
  @Test("a valid JWT creates its account on first use and works for Connect and calls; a bad one is UNAUTHENTICATED; SignOut revokes it")
  func jwt() async throws {
    let secret = Array("a shared secret of at least 32 bytes!!".utf8)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("jwt-\(UUID().uuidString).key")
    try Data(secret).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let verifier = try await JWTVerifier(keyFile: file.path)
    try await TestServer.with({ $0.jwtVerifier = verifier }) { server in
      let exp = Int(Date().timeIntervalSince1970) + 600
      let token = hs256(secret: secret, claims: #"{"sub":"Kate","exp":\#(exp)}"#)
      let (kate, welcome) = try await TestUser.connectAccount("", token: token, port: server.port)
      #expect(welcome.account)
      #expect(welcome.username == "Kate")
      try await kate.create("jwt-room")
      #expect(try await kate.next().memberJoined.username == "Kate")

      let forged = hs256(secret: Array("another secret, also 32 bytes long".utf8), claims: #"{"sub":"Kate","exp":\#(exp)}"#)
      let refused = await TestUser.failingAccountConnect("", token: forged, port: server.port)
      #expect(refused?.code == .unauthenticated)
      let expired = hs256(secret: secret, claims: #"{"sub":"Kate","exp":1000}"#)
      #expect(await TestUser.failingAccountConnect("", token: expired, port: server.port)?.code == .unauthenticated)
      let badName = hs256(secret: secret, claims: #"{"sub":"not a name","exp":\#(exp)}"#)
      #expect(await TestUser.failingAccountConnect("", token: badName, port: server.port)?.code == .invalidArgument)

      try await kate.signOut()
      #expect(await kate.streamEnd()?.code == .unauthenticated)
      #expect(await TestUser.failingAccountConnect("", token: token, port: server.port)?.code == .unauthenticated)
      #expect(!server.logs.entries.contains { "\($0.message) \($0.metadata)".contains(token) })
    }
  }
}

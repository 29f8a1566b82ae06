import Crypto
import Foundation
import Testing

@testable import ChatAuth

@Suite("AccessToken")
struct AccessTokenTests {
  @Test("a token is ct_ and 256 random bits in base64url without padding")
  func shape() throws {
    let token = AccessToken.generate()
    #expect(token.hasPrefix("ct_"))
    let body = token.dropFirst(3)
    #expect(body.count == 43)
    #expect(!body.contains("=") && !body.contains("+") && !body.contains("/"))
    let base64 = body.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
    #expect(try #require(Data(base64Encoded: base64)).count == 32)
    #expect(AccessToken.looksLikeToken(token))
  }

  @Test("tokens are unique")
  func unique() {
    let tokens = Set((0..<10_000).map { _ in AccessToken.generate() })
    #expect(tokens.count == 10_000)
  }

  @Test("the hash is the SHA-256 of the token's UTF-8, stable, and differs between tokens")
  func hashStable() {
    let token = AccessToken.generate()
    let hash = AccessToken.hash(token)
    #expect(hash.count == 32)
    #expect(hash == AccessToken.hash(token))
    #expect(hash == Data(SHA256.hash(data: Data(token.utf8))))
    #expect(hash != AccessToken.hash(AccessToken.generate()))
  }

  @Test("only a token's shape looks like a token", arguments: [
    "alice", "", "ct_", "Bearer ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 42 characters
    "ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 44 characters
    "ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
    "ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
  ])
  func notTokens(value: String) {
    #expect(AccessToken.looksLikeToken(value) == false)
  }
}

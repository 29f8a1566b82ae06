import GRPCCore
import Testing

@testable import ChatGRPC

@Suite("The authorization header's credential")
struct CredentialTests {
  @Test(
    "a value is trimmed of header whitespace and of a Bearer prefix in any case",
    arguments: [
      ("alice", "alice"), ("  alice\t", "alice"), ("Bearer alice", "alice"), ("bearer  alice ", "alice"),
      ("BEARER\talice", "BEARER\talice"), ("BeArEr ct_x", "ct_x"), ("Bearer", "Bearer"), ("Bearerx", "Bearerx"),
      ("élodie ", "élodie"), ("Bearer é", "é"), ("Bearer ", "Bearer"),
    ])
  func trimmed(header: String, credential: String) {
    #expect(AuthInterceptor.credential(in: ["authorization": .string(header)]) == credential)
  }

  @Test("a missing or blank header is no credential", arguments: [nil, "", "   ", " \t "] as [String?])
  func none(header: String?) {
    let metadata: Metadata = header.map { ["authorization": .string($0)] } ?? [:]
    #expect(AuthInterceptor.credential(in: metadata) == nil)
  }
}

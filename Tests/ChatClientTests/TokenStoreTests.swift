import ChatClientCore
import Foundation
import Testing

@Suite("Token files")
final class TokenStoreTests {
  /// A fresh directory for each test, removed when it ends; `root` is inside it.
  let directory: URL
  let root: URL
  let server = ServerAddress(host: "127.0.0.1", port: 50051)
  let token = AccountToken(
    username: "Alice", token: "ct_" + String(repeating: "A", count: 43),
    expiresAt: Date(timeIntervalSince1970: 1_900_000_000))

  init() {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("chat-client-tokens-\(UUID().uuidString)", isDirectory: true)
    root = directory.appendingPathComponent("config/tokens", isDirectory: true)
  }

  deinit { try? FileManager.default.removeItem(at: directory) }

  func mode(_ url: URL) throws -> Int {
    try #require(FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int)
  }

  @Test("a saved token is a file of mode 0600 in directories of mode 0700")
  func permissions() throws {
    let store = TokenStore(root: root, server: server)
    try store.save(token)
    #expect(try mode(store.file(for: "alice")) == 0o600)
    #expect(try mode(store.directory) == 0o700)
    #expect(try mode(root) == 0o700)
    #expect(try mode(root.deletingLastPathComponent()) == 0o700)
    #expect(store.file(for: "ALICE").lastPathComponent == "alice.token")
    #expect(store.directory.lastPathComponent == "127.0.0.1_50051")
  }

  @Test("a saved token is found again by a later start, under any case of its name")
  func reuse() throws {
    try TokenStore(root: root, server: server).save(token)
    let later = TokenStore(root: root, server: server)
    #expect(try later.load("alice") == token)
    #expect(try later.load("ALICE") == token)
    #expect(later.usernames() == ["alice"])
    #expect(try later.load("bob") == nil)
  }

  @Test("saving again replaces the token and keeps the mode; deleting forgets it")
  func replaceAndDelete() throws {
    let store = TokenStore(root: root, server: server)
    try store.save(token)
    var newer = token
    newer.token = "ct_" + String(repeating: "B", count: 43)
    try store.save(newer)
    #expect(try store.load("alice") == newer)
    #expect(try mode(store.file(for: "alice")) == 0o600)
    #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory.path) == ["alice.token"])
    try store.delete("alice")
    #expect(try store.load("alice") == nil)
    #expect(store.usernames().isEmpty)
    try store.delete("alice")  // nothing to delete is no error
  }

  @Test("each server has its own tokens")
  func perServer() throws {
    try TokenStore(root: root, server: server).save(token)
    let other = TokenStore(root: root, server: ServerAddress(host: "127.0.0.1", port: 50052))
    #expect(try other.load("alice") == nil)
    #expect(other.usernames().isEmpty)
  }

  @Test("a token file others may read is refused, naming the file")
  func othersMayRead() throws {
    let store = TokenStore(root: root, server: server)
    try store.save(token)
    let file = store.file(for: "alice")
    #expect(chmod(file.path, 0o644) == 0)
    let error = try #require(throws: TokenStoreError.self) { try store.load("alice") }
    #expect(error.description.contains(file.path))
    #expect(error.description.contains("chmod 600"))
  }

  @Test("a file that is not a token file is refused")
  func notATokenFile() throws {
    let store = TokenStore(root: root, server: server)
    try store.save(token)
    let file = store.file(for: "bob")
    #expect(FileManager.default.createFile(atPath: file.path, contents: Data("hello".utf8), attributes: [.posixPermissions: 0o600]))
    #expect(throws: TokenStoreError.self) { try store.load("bob") }
  }

  @Test("names and hosts make safe file names", arguments: [
    (ServerAddress(host: "::1", port: 50051), "__1_50051"),
    (ServerAddress(host: "Chat.Example.com", port: 443), "chat.example.com_443"),
    (ServerAddress(host: "../../etc", port: 1), ".._.._etc_1"),
  ])
  func serverDirectories(server: ServerAddress, name: String) {
    let store = TokenStore(root: root, server: server)
    #expect(store.directory.lastPathComponent == name)
    #expect(store.directory.deletingLastPathComponent().path == root.path)
  }

  @Test("the names . and .. stay inside the server's directory", arguments: [".", ".."])
  func dotNames(name: String) throws {
    let store = TokenStore(root: root, server: server)
    #expect(store.file(for: name).deletingLastPathComponent().path == store.directory.path)
    try store.save(AccountToken(username: name, token: token.token, expiresAt: nil))
    #expect(try store.load(name)?.username == name)
  }

  @Test("the default place follows XDG_CONFIG_HOME, else HOME")
  func defaultRoot() {
    #expect(
      TokenStore.defaultRoot(environment: ["XDG_CONFIG_HOME": "/x/config", "HOME": "/home/a"]).path
        == "/x/config/chat-client/tokens")
    #expect(TokenStore.defaultRoot(environment: ["HOME": "/home/a"]).path == "/home/a/.config/chat-client/tokens")
  }

  @Test("a token never shows in its descriptions")
  func neverPrinted() {
    for text in [token.description, token.debugDescription, "\(token)", String(describing: token), String(reflecting: token)] {
      #expect(!text.contains(token.token))
    }
    #expect(token.authorizationValue == "Bearer \(token.token)")
  }

  @Test("a token past its expiry has expired; one with no expiry never does")
  func expiry() {
    #expect(token.hasExpired(at: Date(timeIntervalSince1970: 1_900_000_000)))
    #expect(!token.hasExpired(at: Date(timeIntervalSince1970: 1_899_999_999)))
    #expect(!AccountToken(username: "a", token: "t", expiresAt: nil).hasExpired())
  }
}

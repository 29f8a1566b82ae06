import Foundation

/// The account tokens this client keeps: one file per account and server, readable by its owner
/// only (0600, in directories of mode 0700), so a token is reused at the next start without
/// signing in again.
///
///     $XDG_CONFIG_HOME/chat-client/tokens/<host_port>/<name>.token   (default ~/.config)
///
/// A file holds JSON: the account's name, the token and its expiry. Names compare as the server
/// compares them, ignoring case; file names are lowercase.
public struct TokenStore: Sendable {
  /// This server's directory.
  public let directory: URL

  /// - Parameters:
  ///   - root: the directory holding one directory per server (`--token-dir`).
  ///   - server: whose tokens these are.
  public init(root: URL, server: ServerAddress) {
    directory = root.appendingPathComponent(Self.directoryName(for: server), isDirectory: true)
  }

  /// `$XDG_CONFIG_HOME/chat-client/tokens`, or `~/.config/chat-client/tokens`.
  public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment)
    -> URL
  {
    let config =
      environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
      ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory())
        .appendingPathComponent(".config")
    return config.appendingPathComponent("chat-client/tokens", isDirectory: true)
  }

  /// `127.0.0.1_50051`, `chat.example.com_443`, `__1_50051` for `[::1]:50051`: a file name for
  /// every host.
  static func directoryName(for server: ServerAddress) -> String {
    let host = String(
      server.host.lowercased().unicodeScalars.map { scalar -> Character in
        switch scalar {
        case "a"..."z", "0"..."9", ".", "-": Character(scalar)
        default: "_"
        }
      })
    return "\(host)_\(server.port)"
  }

  /// The file for `username`. `.token` keeps the names `.` and `..`, which the name rule allows,
  /// from naming a directory.
  public func file(for username: String) -> URL {
    directory.appendingPathComponent("\(username.lowercased()).token", isDirectory: false)
  }

  /// Writes the token: a new file of mode 0600 renamed over the old one, in directories created
  /// with mode 0700.
  public func save(_ token: AccountToken) throws {
    try createDirectories()
    let data = try JSONEncoder.tokenFile.encode(token)
    let destination = file(for: token.username)
    let temporary = directory.appendingPathComponent(".\(UUID().uuidString).tmp")
    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw TokenStoreError(file: temporary.path, problem: "cannot be created", errno) }
    defer { _ = unlink(temporary.path) }  // gone after the rename; removes it if something failed
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let writeErrno = errno
    let synced = fsync(fd) == 0
    close(fd)
    guard written == data.count, synced else {
      throw TokenStoreError(file: temporary.path, problem: "cannot be written", writeErrno)
    }
    guard rename(temporary.path, destination.path) == 0 else {
      throw TokenStoreError(file: destination.path, problem: "cannot be replaced", errno)
    }
  }

  /// The saved token for `username`; nil if there is none. A file that others may read is
  /// refused (as ssh refuses such a key), and so is one that does not parse.
  public func load(_ username: String) throws -> AccountToken? {
    let path = file(for: username).path
    var status = stat()
    guard stat(path, &status) == 0 else {
      if errno == ENOENT { return nil }
      throw TokenStoreError(file: path, problem: "cannot be read", errno)
    }
    guard status.st_mode & 0o077 == 0 else {
      throw TokenStoreError(
        file: path,
        problem: "may be read by others (mode \(String(status.st_mode & 0o777, radix: 8)));"
          + " run chmod 600 on it, or delete it and sign in again")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TokenStoreError(file: path, problem: "cannot be read")
    }
    guard let token = try? JSONDecoder.tokenFile.decode(AccountToken.self, from: data),
      token.username.lowercased() == username.lowercased()
    else {
      throw TokenStoreError(file: path, problem: "is not a token file of this client; delete it")
    }
    return token
  }

  /// The names of the accounts with a kept token (as their files name them: lowercase), sorted.
  /// `load` then says whether each file can be used.
  public func usernames() -> [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return files.filter { $0.hasSuffix(".token") }.map { String($0.dropLast(".token".count)) }.sorted()
  }

  /// Forgets the token for `username`; nothing if there is none.
  public func delete(_ username: String) throws {
    let path = file(for: username).path
    guard unlink(path) == 0 || errno == ENOENT else {
      throw TokenStoreError(file: path, problem: "cannot be deleted", errno)
    }
  }

  /// Each missing directory from the root down, with mode 0700; existing ones are left as
  /// they are, except this server's own, which is made 0700.
  private func createDirectories() throws {
    var missing: [URL] = []
    var candidate = directory
    while !FileManager.default.fileExists(atPath: candidate.path), candidate.pathComponents.count > 1 {
      missing.append(candidate)
      candidate.deleteLastPathComponent()
    }
    for url in missing.reversed() {
      guard mkdir(url.path, 0o700) == 0 || errno == EEXIST else {
        throw TokenStoreError(file: url.path, problem: "cannot be created", errno)
      }
    }
    guard chmod(directory.path, 0o700) == 0 else {
      throw TokenStoreError(file: directory.path, problem: "cannot be made private", errno)
    }
  }
}

/// A token file that cannot be used; the message names the file.
public struct TokenStoreError: Error, Equatable, Sendable, CustomStringConvertible {
  public var file: String
  public var problem: String

  init(file: String, problem: String, _ code: Int32? = nil) {
    self.file = file
    self.problem = code.map { "\(problem) (\(String(cString: strerror($0))))" } ?? problem
  }

  public var description: String { "token file \(file) \(problem)" }
}

extension JSONEncoder {
  fileprivate static var tokenFile: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys]
    return encoder
  }
}

extension JSONDecoder {
  fileprivate static var tokenFile: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }
}

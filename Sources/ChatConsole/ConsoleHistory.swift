import ChatCore
import CReadline
import Foundation
import Logging

/// The terminal console's history, kept across runs in a file that only its
/// owner can read (commands name users and carry kick reasons).
struct ConsoleHistory {
  static let limit: Int32 = 1000

  /// nil: history for this run only.
  private let path: String?
  private var last: String?

  init(path: String?, logger: Logger) {
    using_history()
    stifle_history(Self.limit)
    guard let path else {
      self.path = nil
      return
    }
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      logger.warning(
        "console history not kept", metadata: ["path": "\(path)", "error": "\(String(cString: strerror(errno)))"])
      self.path = nil
      return
    }
    // A file that exists already may have been made readable by others.
    var status = stat()
    if fstat(fd, &status) == 0 && status.st_mode & 0o077 != 0 { fchmod(fd, status.st_mode & 0o700) }
    close(fd)
    self.path = path
    read_history(path)
  }

  /// Records a line the operator entered, but not blank lines or repeats.
  /// Call it from readline's line handler (see `ReadlineBridge.install`).
  mutating func add(_ line: String) {
    guard !line.allSatisfy(\.isWhitespace), line != last else { return }
    last = line
    add_history(line)
    if let path { append_history(1, path) }
  }

  /// Trims the file to the last `limit` lines.
  func save() {
    if let path { history_truncate_file(path, Self.limit) }
  }
}

import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The data directory: created readable by its owner only, and held with an
/// exclusive `flock` on `DIR/lock` while a store uses it, so a second server
/// on the same directory is refused instead of writing beside the first.
///
/// `flock` locks belong to the open file: the kernel drops them when the
/// process dies (even by `kill -9`), so a stale lock file never blocks a
/// restart, and a second open in the same process is refused like another
/// process.
final class DataDirectory: Sendable {
  let path: String
  /// The lock file's descriptor, -1 once released.
  private let lockDescriptor: Mutex<Int32>

  private init(path: String, lockDescriptor: Int32) {
    self.path = path
    self.lockDescriptor = Mutex(lockDescriptor)
  }

  var databasePath: String { path + "/chat.sqlite" }

  /// Creates `path` (mode 0700) if needed and locks it.
  static func acquire(_ path: String) throws(StoreError) -> DataDirectory {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else { throw .dataDirectory(path: path, reason: "it is not a directory") }
    } else {
      do {
        try FileManager.default.createDirectory(
          atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch {
        throw .dataDirectory(path: path, reason: "it could not be created: \(error.localizedDescription)")
      }
    }
    let lockPath = path + "/lock"
    let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .dataDirectory(path: path, reason: "cannot open \(lockPath): \(errnoText())") }
    // A lock this process itself released a moment ago can still be held by
    // a child it is forking (until that child execs, it shares the old
    // descriptor): wait for that briefly, never for another process.
    var waitedForOwnLock = 0
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let reason = errno
      let holder = readHolder(fd)
      if reason == EWOULDBLOCK, holder == "pid \(getpid())", waitedForOwnLock < 200 {
        waitedForOwnLock += 1
        usleep(10_000)
        continue
      }
      close(fd)
      if reason == EWOULDBLOCK { throw .locked(path: path, holder: holder) }
      throw .dataDirectory(path: path, reason: "cannot lock \(lockPath): \(String(cString: strerror(reason)))")
    }
    // For the refusal message of whoever comes next; the lock itself is the flock.
    let pid = "pid \(getpid())\n"
    _ = ftruncate(fd, 0)
    _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    return DataDirectory(path: path, lockDescriptor: fd)
  }

  /// Drops the lock; later calls do nothing.
  func release() {
    let fd = lockDescriptor.withLock { fd in
      defer { fd = -1 }
      return fd
    }
    if fd >= 0 { close(fd) }
  }

  deinit { release() }

  private static func readHolder(_ fd: Int32) -> String {
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = pread(fd, &buffer, buffer.count, 0)
    let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return trimmed.isEmpty ? "pid unknown" : trimmed
  }
}

func errnoText() -> String { String(cString: strerror(errno)) }

// For types whose own `open` and `close` methods hide the C functions.
func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
func systemClose(_ fd: Int32) { close(fd) }

import ChatCore
import Foundation

/// A pipe whose write end wakes a thread blocked in poll(2) on its read end.
final class WakeUpPipe: Sendable {
  let readEnd: Int32
  private let writeEnd: Int32

  struct Failed: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { "pipe failed: \(String(cString: strerror(errno)))" }
  }

  init() throws {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw Failed(errno: errno) }
    readEnd = fds[0]
    writeEnd = fds[1]
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
  }

  deinit {
    close(readEnd)
    close(writeEnd)
  }

  /// Never blocks: a full pipe already holds a wake-up.
  func wake() {
    var byte: UInt8 = 1
    _ = Foundation.write(writeEnd, &byte, 1)
  }

  func drain() {
    var bytes = [UInt8](repeating: 0, count: 64)
    while Foundation.read(readEnd, &bytes, bytes.count) > 0 {}
  }
}

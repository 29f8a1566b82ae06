import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One file of the message log, open for as long as anything holds it: a
/// reader that looked it up keeps it (and its descriptor) alive even if
/// compaction removes it meanwhile, so a `pread` never lands on a reused
/// descriptor.
final class LogSegment: Sendable {
  let number: UInt32
  let path: String
  let descriptor: Int32

  private init(number: UInt32, path: String, descriptor: Int32) {
    self.number = number
    self.path = path
    self.descriptor = descriptor
  }

  deinit { systemClose(descriptor) }

  static func fileName(_ number: UInt32) -> String {
    let digits = String(number)
    return String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".log"
  }

  /// The segment's number if `name` is a segment's file name.
  static func number(ofFile name: String) -> UInt32? {
    guard name.hasSuffix(".log"), name.count == 14 else { return nil }
    return UInt32(name.dropLast(4))
  }

  /// Opens an existing segment for reading and writing.
  static func open(directory: String, number: UInt32) throws(StoreError) -> LogSegment {
    let path = directory + "/" + fileName(number)
    let fd = systemOpen(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw .dataDirectory(path: path, reason: "cannot open it: \(errnoText())") }
    return LogSegment(number: number, path: path, descriptor: fd)
  }

  /// Creates a new segment holding only its header, readable by its owner only.
  static func create(directory: String, number: UInt32, epoch: String) throws(StoreError) -> LogSegment {
    let path = directory + "/" + fileName(number)
    let fd = systemOpen(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .unavailable("cannot create \(path): \(errnoText())") }
    let segment = LogSegment(number: number, path: path, descriptor: fd)
    try segment.write(LogFrame.segmentHeader(epoch: epoch), at: 0)
    return segment
  }

  /// Writes all of `bytes` at `offset`.
  func write(_ bytes: [UInt8], at offset: UInt64) throws(StoreError) {
    let failure = bytes.withUnsafeBytes { buffer -> Int32? in
      var done = 0
      while done < buffer.count {
        let count = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
        if count < 0 {
          if errno == EINTR { continue }
          return errno
        }
        done += count
      }
      return nil
    }
    if let failure { throw .unavailable(String(cString: strerror(failure))) }
  }

  /// Reads `length` bytes at `offset`.
  func read(at offset: UInt64, length: Int) throws(StoreError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: length)
    let failure = bytes.withUnsafeMutableBytes { buffer -> String? in
      var done = 0
      while done < length {
        let count = pread(descriptor, buffer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
        if count < 0 {
          if errno == EINTR { continue }
          return errnoText()
        }
        if count == 0 { return "it ends before offset \(offset + UInt64(length))" }
        done += count
      }
      return nil
    }
    if let failure { throw .unavailable("cannot read \(path): \(failure)") }
    return bytes
  }

  /// The file's size.
  func size() throws(StoreError) -> UInt64 {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw .unavailable("cannot stat \(path): \(errnoText())") }
    return UInt64(info.st_size)
  }

  func truncate(to size: UInt64) {
    _ = ftruncate(descriptor, off_t(size))
  }

  func sync() throws(StoreError) {
    guard fdatasync(descriptor) == 0 else { throw .unavailable("cannot sync \(path): \(errnoText())") }
  }
}

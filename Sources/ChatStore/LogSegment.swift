import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One file of the message log, open for as long as anything holds it: a
/// reader that looked it up keeps it (and its descriptor) alive even if
/// compaction removes it meanwhile, so a `pread` never lands on a reused
/// descriptor.
///
/// Appends go through a shared mapping of the file (`withMappedBytes`, or
/// `store` for bytes that straddle two windows), one window of
/// `windowSize` bytes at a time: what is written into it is in the kernel's page
/// cache at once, which is what survives `kill -9`, with no system call per
/// append. The file is allocated ahead (`allocate`), so the mapping never
/// touches a block the disk does not have (no SIGBUS on a full disk: the
/// allocation fails instead, with ENOSPC).
final class LogSegment: Sendable {
  static let windowSize = 1 << 20

  /// The mapped window: only the log's writer (under its output lock) uses it.
  private struct Window {
    /// The mapping's address (0: none), kept as a number: a pointer kept in
    /// the lock's state would join the regions of every pointer copied
    /// through it.
    var base: UInt = 0
    var start: UInt64 = 0
    /// Bytes of the file allocated (its size while it is being appended to).
    var allocated: UInt64 = 0
    /// Up to here the file holds records or zeros written with `pwrite`.
    /// A window is zeroed that way before it is mapped: a write fault on a
    /// page already in the page cache costs about a microsecond, on an
    /// allocated but never written block of ext4 (an unwritten extent)
    /// tens of microseconds (measured in the writer's profile).
    var zeroed: UInt64 = 0
  }

  let number: UInt32
  let path: String
  let descriptor: Int32
  private let window = Mutex(Window())

  private init(number: UInt32, path: String, descriptor: Int32) {
    self.number = number
    self.path = path
    self.descriptor = descriptor
  }

  deinit {
    window.withLock { window in
      if let base = UnsafeMutableRawPointer(bitPattern: window.base) { munmap(base, Self.windowSize) }
    }
    systemClose(descriptor)
  }

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

  /// Creates a new segment holding only its header, readable by its owner
  /// only, with `allocate` bytes allocated for appends.
  static func create(directory: String, number: UInt32, epoch: String, allocate: UInt64 = 0) throws(StoreError)
    -> LogSegment
  {
    let path = directory + "/" + fileName(number)
    let fd = systemOpen(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .unavailable("cannot create \(path): \(errnoText())") }
    let segment = LogSegment(number: number, path: path, descriptor: fd)
    do {
      try segment.write(LogFrame.segmentHeader(epoch: epoch), at: 0)
      if allocate > 0 { try segment.allocate(allocate) }
    } catch {
      unlink(path)
      throw error
    }
    return segment
  }

  /// Makes the file at least `size` bytes (rounded up to whole windows),
  /// with its blocks allocated: `store` allocates as it goes, this reserves
  /// ahead (a new segment's whole size, so a full disk shows at once).
  func allocate(_ size: UInt64) throws(StoreError) {
    try window.withLock { window throws(StoreError) in try reserve(&window, upTo: size) }
  }

  private func reserve(_ window: inout Window, upTo size: UInt64) throws(StoreError) {
    let windows = (size + UInt64(Self.windowSize) - 1) / UInt64(Self.windowSize)
    let target = windows * UInt64(Self.windowSize)
    guard target > window.allocated else { return }
    if window.allocated == 0 {
      var info = stat()
      window.zeroed = fstat(descriptor, &info) == 0 ? UInt64(info.st_size) : 0
    }
    let code = posix_fallocate(descriptor, 0, off_t(target))
    guard code == 0 else {
      throw .unavailable("cannot allocate \(target) bytes for \(path): \(String(cString: strerror(code)))")
    }
    window.allocated = target
  }

  /// Copies `bytes` into the file at `offset` through the mapping (see the
  /// type's comment), allocating the file that far if it is not yet.
  func store(_ bytes: [UInt8], at offset: UInt64) throws(StoreError) {
    // withUnsafeBytes rethrows untyped: the failure comes back as a value.
    let failure = bytes.withUnsafeBytes { source -> StoreError? in
      do throws(StoreError) {
        try copy(source, at: offset)
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
  }

  private func copy(_ source: UnsafeRawBufferPointer, at offset: UInt64) throws(StoreError) {
    try window.withLock { window throws(StoreError) in
      var done = 0
      while done < source.count {
        let position = offset + UInt64(done)
        let mapped = try map(&window, containing: position)
        let into = Int(position - window.start)
        let count = min(source.count - done, Self.windowSize - into)
        (mapped + into).copyMemory(from: source.baseAddress! + done, byteCount: count)
        done += count
      }
    }
  }

  /// Runs `body` with the address of the file's `count` bytes at `offset`
  /// in the mapping, for the caller to write them in place; nil (and
  /// `body` not run) if they straddle two windows.
  func withMappedBytes<Result>(
    at offset: UInt64, count: Int, _ body: (UnsafeMutableRawPointer) -> Result
  ) throws(StoreError) -> Result? {
    let into = Int(offset % UInt64(Self.windowSize))
    guard into + count <= Self.windowSize else { return nil }
    return try window.withLock { window throws(StoreError) -> Result in
      body(try map(&window, containing: offset) + into)
    }
  }

  /// The window holding `position`, mapped (and the file allocated and
  /// zeroed that far) if it is not yet.
  private func map(_ window: inout Window, containing position: UInt64) throws(StoreError) -> UnsafeMutableRawPointer {
    let start = position - position % UInt64(Self.windowSize)
    if let base = UnsafeMutableRawPointer(bitPattern: window.base), window.start == start { return base }
    let end = start + UInt64(Self.windowSize)
    try reserve(&window, upTo: end)
    if let base = UnsafeMutableRawPointer(bitPattern: window.base) { munmap(base, Self.windowSize) }
    window.base = 0
    if window.zeroed < end {
      try writeZeros(from: max(window.zeroed, start), to: end)
      window.zeroed = end
    }
    let mapped = mmap(nil, Self.windowSize, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, off_t(start))
    guard let mapped, mapped != MAP_FAILED else { throw .unavailable("cannot map \(path): \(errnoText())") }
    window.base = UInt(bitPattern: mapped)
    window.start = start
    return mapped
  }

  private func writeZeros(from start: UInt64, to end: UInt64) throws(StoreError) {
    guard end > start else { return }
    let zeros = [UInt8](repeating: 0, count: Int(end - start))
    try write(zeros, at: start)
  }

  /// Ends appending: unmaps the window and gives back the allocated space
  /// past `size` (what was appended).
  func finish(size: UInt64) {
    window.withLock { window in
      if let base = UnsafeMutableRawPointer(bitPattern: window.base) { munmap(base, Self.windowSize) }
      window.base = 0
      window.allocated = 0
    }
    truncate(to: size)
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

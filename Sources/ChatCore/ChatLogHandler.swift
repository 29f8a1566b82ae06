import Foundation
import Logging
import Synchronization

/// Where formatted log lines go: standard error, a file, or (with the
/// console) a printer that keeps the prompt intact.
public protocol LogSink: Sendable {
  func write(line: String)
}

/// Writes each line to a file descriptor with one `write(2)`, so lines from
/// different threads never interleave.
public final class FileDescriptorLogSink: LogSink {
  private let fd: Int32
  private let ownsDescriptor: Bool

  public static let standardError = FileDescriptorLogSink(fd: STDERR_FILENO, ownsDescriptor: false)

  public init(fd: Int32, ownsDescriptor: Bool) {
    self.fd = fd
    self.ownsDescriptor = ownsDescriptor
  }

  /// Appends to `path`, creating it readable by its owner only.
  public convenience init(appendingTo path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
    self.init(fd: fd, ownsDescriptor: true)
  }

  deinit {
    if ownsDescriptor { close(fd) }
  }

  public func write(line: String) {
    var line = line
    line.withUTF8 { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if written <= 0 { return }
        offset += written
      }
    }
  }
}

/// One line per event: `2026-11-21T09:07:17.123Z notice message key=value …`.
public struct ChatLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  private let sinks: [any LogSink]

  public init(level: Logger.Level, sinks: [any LogSink]) {
    self.logLevel = level
    self.sinks = sinks
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var all = self.metadata
    if let explicit = event.metadata { all.merge(explicit) { $1 } }
    if let error = event.error { all["error"] = "\(error)" }
    var text = "\(Self.timestamp()) \(event.level) \(event.message)"
    for (key, value) in all.sorted(by: { $0.key < $1.key }) {
      text += " \(key)=\(Self.render(value))"
    }
    text += "\n"
    for sink in sinks { sink.write(line: text) }
  }

  /// Values with spaces or quotes are quoted so every line splits on spaces.
  static func render(_ value: Logger.MetadataValue) -> String {
    let string = "\(value)"
    guard string.isEmpty || string.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline }) else {
      return string
    }
    return "\"" + string.replacingOccurrences(of: "\\", with: "\\\\")
      .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
  }

  static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var parts = tm()
    var seconds = now.tv_sec
    gmtime_r(&seconds, &parts)
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, now.tv_nsec / 1_000_000)
  }
}

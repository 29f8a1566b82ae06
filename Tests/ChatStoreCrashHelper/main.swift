import ChatStore
import Foundation
import Logging
import Synchronization

// chat-store-crash-helper DIR COUNT: opens the SQLite store in DIR and appends
// COUNT messages from 8 concurrent callers, printing "acked SEQ" once each
// acknowledgement completes, then "done", then waits for stdin to close. The
// kill -9 test kills it mid-stream and checks that every printed seq survived.

let arguments = CommandLine.arguments
guard arguments.count == 3, let count = Int(arguments[2]) else {
  FileHandle.standardError.write(Data("usage: chat-store-crash-helper DIR COUNT\n".utf8))
  exit(2)
}
/// One unbuffered write(2) per line: what was printed is out of the process
/// the moment it is printed.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let store: SQLiteStore
do {
  store = try SQLiteStore.open(.init(directory: arguments[1]), logger: Logger(label: "crash-helper"))
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
say("epoch \(store.epoch)")
let next = Atomic<UInt64>(0)
let output = Mutex(())
try await withThrowingTaskGroup(of: Void.self) { group in
  for _ in 0..<8 {
    group.addTask {
      while true {
        let seq = next.add(1, ordering: .relaxed).newValue
        guard seq <= count else { return }
        // A channel per record: retention (1,000 messages a channel) never
        // drops one, so every acknowledged seq must be there after the kill.
        let record = LogRecord(
          seq: seq, channel: "g\(seq)", kind: .message, time: Date(), payload: Data("message \(seq)".utf8))
        try await store.append([record]).wait(timeout: .seconds(10))
        output.withLock { _ in say("acked \(seq)") }
      }
    }
  }
  try await group.waitForAll()
}
say("done")
while readLine() != nil {}
await store.close()

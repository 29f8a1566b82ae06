/// The open sessions of a group's members, kept beside its member keys so
/// that a fan-out walks one array of sessions instead of looking each member
/// up (a hash of its key, and the `User` moved out of the dictionary and
/// back: most of the registry's cost per delivery).
///
/// Kept by `RegistryState` in step with `Group.members` and `User.sessions`:
/// a member's session is here from the later of its opening and the join,
/// until the earlier of its end and the leave. Order is not kept (removal
/// moves the last session into the gap), as a `Set` of members had none.
struct MemberSessions {
  private(set) var list: [Session] = []
  /// Where each session is in `list`.
  private var positions: [SessionTag: Int] = [:]

  var count: Int { list.count }

  mutating func insert(_ session: Session) {
    guard positions[session.tag] == nil else { return }
    positions[session.tag] = list.count
    list.append(session)
  }

  mutating func remove(_ session: Session) {
    guard let position = positions.removeValue(forKey: session.tag) else { return }
    let last = list.removeLast()
    if position < list.count {
      list[position] = last
      positions[last.tag] = position
    }
  }
}
